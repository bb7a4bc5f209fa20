package convert

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/podvm-migrate/podvm-migrate/convert/block"
	"github.com/podvm-migrate/podvm-migrate/convert/qcow2"
	"github.com/podvm-migrate/podvm-migrate/convert/vmdk"
	"github.com/podvm-migrate/podvm-migrate/internal/testtool"
)

// teeRecord is what a planned copy gave its Tee.
type teeRecord struct {
	calls int
	size  int64
	h     io.Writer
	sum   func() string
}

func newTeeRecord() *teeRecord {
	h := sha256.New()
	return &teeRecord{h: h, sum: func() string { return hex.EncodeToString(h.Sum(nil)) }}
}

func (r *teeRecord) tee(size int64) io.Writer {
	r.calls++
	r.size = size
	return r.h
}

func fileSum(t *testing.T, path string) (string, int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:]), int64(len(b))
}

// TestPlannedQCOW2 converts sources that can be mapped ahead into planned
// qcow2 images, at cluster sizes that make them cross many L2 tables and
// refcount blocks: the Tee must see exactly the file's bytes, in order, and
// qemu-img must find the image clean and equal to the source. A written
// but all-zero region (allocated in the source) must read back as zeros.
func TestPlannedQCOW2(t *testing.T) {
	testtool.Require(t, "qemu-img")
	dir := t.TempDir()
	rawPath := filepath.Join(dir, "disk.raw")
	writeTestRaw(t, rawPath)
	f, err := os.OpenFile(rawPath, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Written zeros: allocated in the raw file, zero to the guest.
	if _, err := f.WriteAt(make([]byte, 256<<10), 5<<20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	sparse := filepath.Join(dir, "sparse.vmdk")
	stream := filepath.Join(dir, "stream.vmdk")
	testtool.Run(t, "qemu-img", "convert", "-f", "raw", "-O", "vmdk", rawPath, sparse)
	testtool.Run(t, "qemu-img", "convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=streamOptimized", rawPath, stream)
	ctx := context.Background()
	for _, src := range []string{rawPath, sparse, stream} {
		for _, bits := range []uint32{9, 12, 16, 20} {
			img, err := Open(src, "", PathPolicy{})
			if err != nil {
				t.Fatal(err)
			}
			dst := filepath.Join(dir, "out.qcow2")
			rec := newTeeRecord()
			w, err := qcow2.Create(dst, img.Size(), qcow2.WriterOptions{TargetOptions: block.TargetOptions{Overwrite: true}, ClusterBits: bits, Tee: rec.tee})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Copy(ctx, img, w, CopyOptions{Workers: 3}); err != nil {
				t.Fatalf("%s, %d-bit clusters: %v", filepath.Base(src), bits, err)
			}
			if err := w.Commit(ctx); err != nil {
				t.Fatalf("%s, %d-bit clusters: commit: %v", filepath.Base(src), bits, err)
			}
			img.Close()
			name := filepath.Base(src) + "/" + string(rune('0'+bits/10)) + string(rune('0'+bits%10))
			sum, size := fileSum(t, dst)
			if rec.calls != 1 || rec.size != size {
				t.Errorf("%s: Tee called %d times for %d bytes, the file has %d", name, rec.calls, rec.size, size)
			}
			if got := rec.sum(); got != sum {
				t.Errorf("%s: the Tee hashed %s, the file hashes to %s", name, got, sum)
			}
			testtool.Run(t, "qemu-img", "check", dst)
			qemuCompare(t, rawPath, dst)
		}
	}
}

// TestPlanNotForStreams: a stream cannot be mapped ahead and a compressed
// cluster's size is unknown before it is deflated, so neither calls the Tee
// and both write the image as before.
func TestPlanNotForStreams(t *testing.T) {
	testtool.Require(t, "qemu-img")
	dir := t.TempDir()
	rawPath := filepath.Join(dir, "disk.raw")
	writeTestRaw(t, rawPath)
	stream := filepath.Join(dir, "stream.vmdk")
	testtool.Run(t, "qemu-img", "convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=streamOptimized", rawPath, stream)
	b, err := os.ReadFile(stream)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cases := []struct {
		name     string
		open     func() (block.Image, error)
		compress bool
	}{
		{"stream", func() (block.Image, error) { return vmdk.OpenStream("pipe", bytes.NewReader(b), nil) }, false},
		{"compressed", func() (block.Image, error) { return Open(rawPath, "", PathPolicy{}) }, true},
	}
	for _, c := range cases {
		img, err := c.open()
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(dir, c.name+".qcow2")
		rec := newTeeRecord()
		if _, err := DiskFrom(ctx, img, c.name, dst, DiskOptions{Compress: c.compress, Tee: rec.tee}); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		img.Close()
		if rec.calls != 0 {
			t.Errorf("%s: Tee called %d times, want none", c.name, rec.calls)
		}
		testtool.Run(t, "qemu-img", "check", dst)
		qemuCompare(t, rawPath, dst)
	}
}
