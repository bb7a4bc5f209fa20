package qcow2

import (
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/podvm-migrate/podvm-migrate/convert/block"
	"github.com/podvm-migrate/podvm-migrate/internal/testtool"
)

// TestWriterLayouts writes images whose small clusters make them cross many
// L2 tables and refcount blocks, plain and compressed, and has qemu-img
// check them and compare them with the raw data.
func TestWriterLayouts(t *testing.T) {
	testtool.Require(t, "qemu-img")
	dir := t.TempDir()
	const size = 6<<20 + 4096 + 512
	data := make([]byte, size)
	rng := rand.New(rand.NewPCG(3, 4))
	for off := 0; off < size; off += 8192 {
		switch rng.IntN(4) {
		case 0: // random
			for i := off; i < min(off+8192, size); i++ {
				data[i] = byte(rng.Uint32())
			}
		case 1: // compressible
			for i := off; i < min(off+8192, size); i++ {
				data[i] = "podvm"[i%5]
			}
		}
	}
	data[size-1] = 1
	rawPath := filepath.Join(dir, "want.raw")
	if err := os.WriteFile(rawPath, data, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		bits     uint32
		compress bool
	}{{9, false}, {9, true}, {12, false}, {12, true}, {16, false}, {16, true}, {20, false}}
	for _, c := range cases {
		path := filepath.Join(dir, "out.qcow2")
		w, err := Create(path, size, WriterOptions{TargetOptions: block.TargetOptions{Overwrite: true}, Compress: c.compress, ClusterBits: c.bits})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		for off := 0; off < size; off += 1 << 20 {
			win := &block.Window{Offset: int64(off), Data: data[off:min(off+1<<20, size)]}
			if err := w.Encode(win); err != nil {
				t.Fatal(err)
			}
			if err := w.Write(ctx, win); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{{"check", path}, {"compare", "-f", "raw", "-F", "qcow2", rawPath, path}} {
			if out, err := exec.Command("qemu-img", args...).CombinedOutput(); err != nil {
				t.Errorf("cluster bits %d, compress %v: qemu-img %s: %v\n%s", c.bits, c.compress, args[0], err, out)
			}
		}
		// Our reader agrees too.
		img, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]byte, size)
		for off := int64(0); off < size; {
			r, err := img.Map(ctx, off, size-off)
			if err != nil {
				t.Fatal(err)
			}
			if r.Kind == block.Data {
				if err := r.Read(ctx, got[off:off+r.Length]); err != nil {
					t.Fatal(err)
				}
			}
			off += r.Length
		}
		img.Close()
		if string(got) != string(data) {
			t.Errorf("cluster bits %d, compress %v: our reader reads different bytes", c.bits, c.compress)
		}
	}
}
