package block_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/podvm-migrate/podvm-migrate/convert/block"
	"github.com/podvm-migrate/podvm-migrate/convert/raw"
)

// TestRestrict reads a disk that holds data everywhere through areas: the
// areas read as the disk, the rest as holes.
func TestRestrict(t *testing.T) {
	const size = 1 << 20
	disk := bytes.Repeat([]byte("flat extent over HTTP "), size/22+1)[:size]
	img := raw.OpenFile(block.NewFile("disk-flat.vmdk", bytes.NewReader(disk), size, nil))
	areas := []block.Extent{{Offset: 64 << 10, Length: 64 << 10}, {Offset: 128 << 10, Length: 64 << 10}, {Offset: 512 << 10, Length: 8 << 10}, {Offset: size - 512, Length: 512}}
	r, err := block.Restrict(img, areas)
	if err != nil {
		t.Fatal(err)
	}
	if n, b := r.Areas(); n != 3 || b != 136<<10+512 {
		t.Errorf("Areas() = %d, %d; want 3 (two adjacent ones merged), %d", n, b, 136<<10+512)
	}
	inside := func(off int64) bool {
		for _, a := range areas {
			if off >= a.Offset && off < a.Offset+a.Length {
				return true
			}
		}
		return false
	}
	ctx := context.Background()
	got := make([]byte, size)
	for _, step := range []int64{size, 4096, 1000} { // the engine asks for windows of any size
		clear(got)
		for off := int64(0); off < size; {
			run, err := r.Map(ctx, off, min(step, size-off))
			if err != nil {
				t.Fatal(err)
			}
			if run.Length <= 0 || run.Length > min(step, size-off) {
				t.Fatalf("step %d: run of %d bytes at %d", step, run.Length, off)
			}
			if (run.Kind == block.Data) != inside(off) || (run.Kind == block.Data) != inside(off+run.Length-1) {
				t.Fatalf("step %d: %v run of %d bytes at %d crosses an area's edge", step, run.Kind, run.Length, off)
			}
			if run.Kind == block.Data {
				if err := run.Read(ctx, got[off:off+run.Length]); err != nil {
					t.Fatal(err)
				}
			}
			off += run.Length
		}
		for off := int64(0); off < size; off++ {
			want := byte(0)
			if inside(off) {
				want = disk[off]
			}
			if got[off] != want {
				t.Fatalf("step %d: byte %d is %q, want %q", step, off, got[off], want)
			}
		}
	}

	for _, bad := range [][]block.Extent{
		{{Offset: 0, Length: 0}},
		{{Offset: 4096, Length: 4096}, {Offset: 0, Length: 4096}},
		{{Offset: 0, Length: 8192}, {Offset: 4096, Length: 8192}},
		{{Offset: size - 512, Length: 1024}},
	} {
		if _, err := block.Restrict(img, bad); err == nil {
			t.Errorf("Restrict(%v) took areas that are empty, unordered, overlapping or past the disk", bad)
		}
	}
	if block.IsSequential(r) != block.IsSequential(img) {
		t.Errorf("a restricted image is sequential when its image is not, or the other way")
	}
}
