package qcow2

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/podvm-migrate/podvm-migrate/convert/block"
	"github.com/podvm-migrate/podvm-migrate/internal/testtool"
)

// writeImage makes a qcow2 image of data with the package's Writer, and the
// same bytes as a raw file beside it.
func writeImage(t *testing.T, dir string, data []byte, bits uint32) (string, string) {
	t.Helper()
	ctx := context.Background()
	path, rawPath := filepath.Join(dir, "disk.qcow2"), filepath.Join(dir, "disk.raw")
	w, err := Create(path, int64(len(data)), WriterOptions{TargetOptions: block.TargetOptions{Overwrite: true}, ClusterBits: bits})
	if err != nil {
		t.Fatal(err)
	}
	const win = 1 << 20
	for off := 0; off < len(data); off += win {
		b := &block.Window{Offset: int64(off), Data: data[off:min(off+win, len(data))]}
		if err := w.Encode(b); err != nil {
			t.Fatal(err)
		}
		if err := w.Write(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rawPath, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, rawPath
}

func qemuImg(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("qemu-img", args...).CombinedOutput(); err != nil {
		t.Errorf("qemu-img %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestUpdater writes ranges into images the Writer made and has qemu-img
// check each image and compare it with a raw file given the same writes.
func TestUpdater(t *testing.T) {
	testtool.Require(t, "qemu-img")
	const size = 3<<20 + 4096
	const big = 10 << 20
	type write struct {
		off int64
		n   int
		val byte // 0 writes zeros, else random bytes
	}
	cases := []struct {
		name    string
		bits    uint32
		size    int64 // default size
		writes  []write
		wantErr string
	}{
		{name: "unaligned inside a cluster", bits: 16, writes: []write{{off: 100, n: 37, val: 1}, {off: 2<<20 + 70000, n: 5, val: 1}}},
		{name: "cross-cluster", bits: 12, writes: []write{{off: 4000, n: 10000, val: 1}, {off: 1<<20 - 3, n: 9, val: 1}}},
		{name: "new L2 table", bits: 9, writes: []write{{off: 2<<20 + 777, n: 3000, val: 1}, {off: size - 513, n: 513, val: 1}}},
		{name: "overwrite allocated data", bits: 16, writes: []write{{off: 0, n: 1 << 20, val: 1}, {off: 65536 + 3, n: 200000, val: 1}}},
		{name: "zeros over data and holes", bits: 12, writes: []write{{off: 0, n: 8192, val: 0}, {off: 2 << 20, n: 65536, val: 0}}},
		// 512-byte clusters: the Writer's one-cluster refcount table counts 8 MiB of file.
		{name: "refcount table outgrown", bits: 9, size: big, writes: []write{{off: 1 << 20, n: big - 1<<20, val: 1}}},
		{name: "past the end", bits: 16, writes: []write{{off: size - 10, n: 11, val: 1}}, wantErr: "past the end"},
		{name: "negative offset", bits: 16, writes: []write{{off: -1, n: 2, val: 1}}, wantErr: "past the end"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			rng := rand.New(rand.NewPCG(7, uint64(len(c.name))))
			size := int64(size)
			if c.size != 0 {
				size = c.size
			}
			data := make([]byte, size)
			// Data in the first MiB only: the rest is holes, so later
			// writes allocate clusters and L2 tables.
			for i := range 1 << 20 {
				data[i] = byte(rng.Uint32())
			}
			path, rawPath := writeImage(t, t.TempDir(), data, c.bits)
			u, err := OpenUpdate(path)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := os.OpenFile(rawPath, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			var werr error
			for _, w := range c.writes {
				p := make([]byte, w.n)
				if w.val != 0 {
					for i := range p {
						p[i] = byte(rng.Uint32()) | 1
					}
				}
				if werr = u.WriteAt(ctx, p, w.off); werr != nil {
					break
				}
				if _, err := raw.WriteAt(p, w.off); err != nil {
					t.Fatal(err)
				}
			}
			if err := u.Close(ctx); err != nil {
				t.Fatal(err)
			}
			if c.wantErr != "" {
				if werr == nil || !strings.Contains(werr.Error(), c.wantErr) {
					t.Fatalf("error %v, want one saying %q", werr, c.wantErr)
				}
			} else if werr != nil {
				t.Fatal(werr)
			}
			qemuImg(t, "check", path)
			qemuImg(t, "compare", "-f", "raw", "-F", "qcow2", rawPath, path)
		})
	}
}

// TestUpdaterReopen updates an image twice, as two precopy rounds do, and
// writes zeros into clusters that hold none.
func TestUpdaterReopen(t *testing.T) {
	testtool.Require(t, "qemu-img")
	ctx := context.Background()
	const size = 4 << 20
	data := make([]byte, size)
	path, rawPath := writeImage(t, t.TempDir(), data, 16)
	raw, err := os.OpenFile(rawPath, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 3 {
		u, err := OpenUpdate(path)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		for range 20 {
			p := make([]byte, 1+rng.IntN(200000))
			for i := range p {
				p[i] = byte(rng.Uint32())
			}
			off := rng.Int64N(size - int64(len(p)))
			if err := u.WriteAt(ctx, p, off); err != nil {
				t.Fatal(err)
			}
			if _, err := raw.WriteAt(p, off); err != nil {
				t.Fatal(err)
			}
		}
		if err := u.Close(ctx); err != nil {
			t.Fatal(err)
		}
		qemuImg(t, "check", path)
		qemuImg(t, "compare", "-f", "raw", "-F", "qcow2", rawPath, path)
	}
}

// TestUpdaterRefuses names what an in-place update cannot handle.
func TestUpdaterRefuses(t *testing.T) {
	testtool.Require(t, "qemu-img")
	dir := t.TempDir()
	base := filepath.Join(dir, "base.qcow2")
	over := filepath.Join(dir, "over.qcow2")
	for _, args := range [][]string{
		{"create", "-f", "qcow2", base, "1M"},
		{"create", "-f", "qcow2", "-b", base, "-F", "qcow2", over},
	} {
		if out, err := exec.Command("qemu-img", args...).CombinedOutput(); err != nil {
			t.Fatalf("qemu-img %v: %v\n%s", args, err, out)
		}
	}
	if _, err := OpenUpdate(over); err == nil || !strings.Contains(err.Error(), "backing file") {
		t.Errorf("image with a backing file: error %v, want one naming the backing file", err)
	}
	notQcow := filepath.Join(dir, "x.raw")
	if err := os.WriteFile(notQcow, make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenUpdate(notQcow); err == nil || !strings.Contains(err.Error(), "not a qcow2") {
		t.Errorf("raw file: error %v, want one saying it is not a qcow2 image", err)
	}
}

// TestUpdaterCloseWithoutWrites: opening an image for update and closing
// it without a write leaves the file as it was, modification and change
// times included (warm migration trusts a disk whose stamp did not move),
// while a write moves them.
func TestUpdaterCloseWithoutWrites(t *testing.T) {
	ctx := context.Background()
	path, _ := writeImage(t, t.TempDir(), make([]byte, 2<<20), 16)
	stat := func() (os.FileInfo, []byte) {
		t.Helper()
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi, b
	}
	before, data := stat()
	// A timestamp tick is coarse: make sure a write would show.
	old := before.ModTime().Add(-time.Hour)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	before, _ = stat()
	ctimeOf := func(fi os.FileInfo) int64 { return fi.Sys().(*syscall.Stat_t).Ctim.Nano() }
	u, err := OpenUpdate(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Close(ctx); err != nil {
		t.Fatal(err)
	}
	after, got := stat()
	if !after.ModTime().Equal(before.ModTime()) || ctimeOf(after) != ctimeOf(before) || !bytes.Equal(got, data) {
		t.Errorf("open and close without writes changed the image: mtime %v -> %v, ctime %d -> %d, same bytes %v",
			before.ModTime(), after.ModTime(), ctimeOf(before), ctimeOf(after), bytes.Equal(got, data))
	}
	u, err = OpenUpdate(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := u.WriteAt(ctx, []byte("x"), 4096); err != nil {
		t.Fatal(err)
	}
	if err := u.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if after, _ = stat(); after.ModTime().Equal(before.ModTime()) {
		t.Errorf("a write left the modification time at %v", after.ModTime())
	}
}
