package qcow2

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/podvm-migrate/podvm-migrate/convert/block"
	"github.com/podvm-migrate/podvm-migrate/internal/testtool"
)

// tinyImages makes small qcow2 images with qemu-img and qemu-io: 512-byte
// clusters, plain, compressed and zero clusters, and a backing file name.
func tinyImages(f *testing.F) [][]byte {
	f.Helper()
	testtool.Require(f, "qemu-img", "qemu-io")
	dir := f.TempDir()
	sh := func(name string, args ...string) {
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			f.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
	}
	plain := filepath.Join(dir, "plain.qcow2")
	sh("qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=512", plain, "64K")
	sh("qemu-io", "-c", "write -P 0x61 0 1k", "-c", "write -z 4k 2k", "-c", "write -c -P 0x62 8k 512", plain)
	over := filepath.Join(dir, "over.qcow2")
	sh("qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=512", "-b", "plain.qcow2", "-F", "qcow2", over)
	var out [][]byte
	for _, p := range []string{plain, over} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// FuzzReader opens arbitrary bytes as a qcow2 image (in memory) and reads
// every run: errors are fine, panics and runaway allocations are not.
func FuzzReader(f *testing.F) {
	for _, b := range tinyImages(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		img, err := open(block.NewFile("fuzz.qcow2", bytes.NewReader(b), int64(len(b)), nil))
		if err != nil {
			return
		}
		ctx := context.Background()
		end := min(img.Size(), 256<<10)
		for off := int64(0); off < end; {
			r, err := img.Map(ctx, off, end-off)
			if err != nil {
				return
			}
			if r.Length <= 0 || r.Length > end-off {
				t.Fatalf("run of %d bytes at %d", r.Length, off)
			}
			if r.Kind == block.Data {
				if err := r.Read(ctx, make([]byte, r.Length)); err != nil {
					return
				}
			}
			off += r.Length
		}
	})
}
