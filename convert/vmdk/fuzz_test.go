package vmdk

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/zlib"

	"github.com/podvm-migrate/podvm-migrate/convert/block"
)

func FuzzParseDescriptor(f *testing.F) {
	f.Add([]byte("# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType=\"monolithicSparse\"\nRW 204800 SPARSE \"d.vmdk\"\n#DDB\nddb.adapterType = \"ide\"\n"))
	f.Add([]byte("# Disk DescriptorFile\nparentFileNameHint=\"base.vmdk\"\nRW 4192256 FLAT \"d-f001.vmdk\" 0\nRW 8 ZERO\nRDONLY 1 VMFS \"a b\" 7\n"))
	f.Add([]byte("RW 1 FLAT \"\n"))
	f.Fuzz(func(t *testing.T, text []byte) {
		d, err := ParseDescriptor("fuzz.vmdk", 0, text)
		if err != nil {
			return
		}
		if len(d.Extents) == 0 {
			t.Fatal("parsed a descriptor without extents")
		}
		for _, e := range d.Extents {
			if e.Sectors <= 0 || (e.Type != ExtentZero && e.File == "") {
				t.Fatalf("bad extent %+v", e)
			}
		}
	})
}

// tinySparse builds a small valid hosted sparse extent: 4 KiB grains, 4
// entries per grain table, data, hole and zero grains, and an embedded
// descriptor; with compressed set, a streamOptimized one with markers.
func tinySparse(t testing.TB, compressed bool) []byte {
	t.Helper()
	const grainSectors, gtes, grains = 8, 4, 8
	le := binary.LittleEndian
	b := make([]byte, 6*sector)
	h := b[:sector]
	le.PutUint32(h[0:], sparseMagic)
	le.PutUint32(h[4:], 1)
	flags := uint32(flagNewline | flagZeroGTE)
	if compressed {
		le.PutUint32(h[4:], 3)
		flags |= flagCompress | flagMarkers
		le.PutUint16(h[77:], 1)
	}
	le.PutUint32(h[8:], flags)
	le.PutUint64(h[12:], grains*grainSectors)
	le.PutUint64(h[20:], grainSectors)
	le.PutUint64(h[28:], 4) // descriptor
	le.PutUint64(h[36:], 2)
	le.PutUint32(h[44:], gtes)
	le.PutUint64(h[56:], 1) // GD at sector 1, GTs at 2 and 3
	le.PutUint64(h[64:], 6)
	copy(h[73:], "\n \r\n")
	le.PutUint32(b[sector:], 2)
	le.PutUint32(b[sector+4:], 3)
	copy(b[4*sector:], "# Disk DescriptorFile\nversion=1\nCID=1\nparentCID=ffffffff\ncreateType=\"monolithicSparse\"\nRW 64 SPARSE \"x.vmdk\"\n")
	gte := func(g int, v uint32) { le.PutUint32(b[(2+g/gtes)*sector+4*(g%gtes):], v) }
	gte(1, 0) // a hole
	gte(2, 1) // a zero grain
	for _, g := range []int{0, 3, 5} {
		data := bytes.Repeat([]byte{byte(g + 1), 'p', 'o', 'd'}, grainSectors*sector/4)
		pos := uint32(len(b) / sector)
		if compressed {
			var z bytes.Buffer
			zw := zlib.NewWriter(&z)
			zw.Write(data)
			zw.Close()
			m := make([]byte, 12)
			le.PutUint64(m, uint64(g*grainSectors))
			le.PutUint32(m[8:], uint32(z.Len()))
			data = append(m, z.Bytes()...)
			data = append(data, make([]byte, (sector-len(data)%sector)%sector)...)
		}
		gte(g, pos)
		b = append(b, data...)
	}
	if compressed {
		b = append(b, make([]byte, sector)...) // end-of-stream marker
	}
	return b
}

func TestTinySparse(t *testing.T) {
	for _, compressed := range []bool{false, true} {
		path := filepath.Join(t.TempDir(), "x.vmdk")
		if err := os.WriteFile(path, tinySparse(t, compressed), 0o644); err != nil {
			t.Fatal(err)
		}
		d, err := OpenDisk(path, Policy{})
		if err != nil {
			t.Fatal(err)
		}
		var kinds []block.Kind
		ctx := context.Background()
		for off := int64(0); off < d.Size(); {
			r, err := d.Map(ctx, off, d.Size()-off)
			if err != nil {
				t.Fatal(err)
			}
			if r.Kind == block.Data {
				buf := make([]byte, r.Length)
				if err := r.Read(ctx, buf); err != nil {
					t.Fatal(err)
				}
				if buf[0] != byte(off/4096+1) {
					t.Errorf("compressed=%v: grain at %d starts with %d", compressed, off, buf[0])
				}
			}
			kinds = append(kinds, r.Kind)
			off += r.Length
		}
		want := []block.Kind{block.Data, block.Hole, block.Zero, block.Data, block.Hole, block.Data, block.Hole}
		if len(kinds) != len(want) {
			t.Fatalf("compressed=%v: runs %v, want %v", compressed, kinds, want)
		}
		d.Close()
	}
}

// FuzzSparseExtent opens arbitrary bytes as a hosted sparse VMDK (plain or
// streamOptimized, in memory) and reads every run: errors are fine, panics
// and runaway allocations are not.
func FuzzSparseExtent(f *testing.F) {
	f.Add(tinySparse(f, false))
	f.Add(tinySparse(f, true))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := openSparseFile(block.NewFile("fuzz.vmdk", bytes.NewReader(b), int64(len(b)), nil), "fuzz.vmdk", &files{open: noFiles})
		if err != nil {
			return
		}
		defer d.Close()
		readAll(t, d, 256<<10)
	})
}

// readAll maps and reads up to limit guest bytes of img.
func readAll(t *testing.T, img block.Image, limit int64) {
	t.Helper()
	ctx := context.Background()
	end := min(img.Size(), limit)
	for off := int64(0); off < end; {
		r, err := img.Map(ctx, off, min(end-off, 1<<20))
		if err != nil {
			return
		}
		if r.Length <= 0 || r.Length > 1<<20 {
			t.Fatalf("run of %d bytes at %d", r.Length, off)
		}
		if r.Kind == block.Data {
			if err := r.Read(ctx, make([]byte, r.Length)); err != nil {
				return
			}
		}
		off += r.Length
	}
}

// noFiles is the Opener of a fuzzed disk: it has no other files.
func noFiles(path string) (*block.File, error) { return nil, os.ErrNotExist }

// FuzzStream reads arbitrary bytes front to back as a streamOptimized VMDK.
func FuzzStream(f *testing.F) {
	f.Add(tinySparse(f, true))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := OpenStream("fuzz.vmdk", bytes.NewReader(b), nil)
		if err != nil {
			return
		}
		defer s.Close()
		readAll(t, s, 256<<10)
	})
}

// tinyESXDelta is a small delta for the ESX formats' seeds: data, zero,
// unmapped and unallocated grains, in two grain tables for SEsparse (of 64
// entries, to keep the seeds small), in one for vmfsSparse.
func tinyESXDelta(grain int64) ESXDelta {
	d := ESXDelta{Sectors: 100*grain + 3, Grain: grain, Data: map[int64][]byte{}, GTSectors: 1}
	for _, g := range []int64{0, 1, 3, 65, 100} {
		d.Data[g] = bytes.Repeat([]byte{byte(g + 1)}, int(grain*sector))
	}
	if grain > 1 {
		d.Zero, d.Unmapped = []int64{2}, []int64{5}
	}
	return d
}

// diskOf is a one-extent Disk of e, as a descriptor would open it.
func diskOf(e *tableExtent, createType string) *Disk {
	return &Disk{Path: "fuzz.vmdk", Descriptor: &Descriptor{CreateType: createType}, starts: []int64{0}, extents: []extent{e}, size: e.size}
}

// FuzzVMFSSparse opens arbitrary bytes as an ESX vmfsSparse (COWD) extent
// and reads every run: errors are fine, panics and runaway allocations are not.
func FuzzVMFSSparse(f *testing.F) {
	f.Add(tinyESXDelta(1).VMFSSparse())
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := openCOWD(block.NewFile("fuzz.vmdk", bytes.NewReader(b), int64(len(b)), nil), 0)
		if err != nil {
			return
		}
		d := diskOf(e, "vmfsSparse")
		defer d.Close()
		readAll(t, d, 256<<10)
	})
}

// FuzzSESparse opens arbitrary bytes as an SEsparse extent and reads every run.
func FuzzSESparse(f *testing.F) {
	f.Add(tinyESXDelta(8).SESparse())
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := openSESparse(block.NewFile("fuzz.vmdk", bytes.NewReader(b), int64(len(b)), nil), 0)
		if err != nil {
			return
		}
		d := diskOf(e, "seSparse")
		defer d.Close()
		readAll(t, d, 256<<10)
	})
}

// TestTinyESXDeltas reads the fuzz seeds run by run: the kinds the writer
// gave each grain, and each data grain's own bytes.
func TestTinyESXDeltas(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name string
		b    []byte
		open func(*block.File, int64) (*tableExtent, error)
		d    ESXDelta
	}{
		{"vmfsSparse", tinyESXDelta(1).VMFSSparse(), openCOWD, tinyESXDelta(1)},
		{"seSparse", tinyESXDelta(8).SESparse(), openSESparse, tinyESXDelta(8)},
	} {
		e, err := c.open(block.NewFile(c.name, bytes.NewReader(c.b), int64(len(c.b)), nil), 0)
		if err != nil {
			t.Fatal(err)
		}
		want := map[int64]block.Kind{}
		for g := range c.d.Data {
			want[g] = block.Data
		}
		for _, g := range append(c.d.Zero, c.d.Unmapped...) {
			want[g] = block.Zero
		}
		grain := c.d.Grain * sector
		for off := int64(0); off < e.size; {
			r, err := e.Map(ctx, off, e.size-off)
			if err != nil {
				t.Fatal(err)
			}
			for g := off / grain; g*grain < off+r.Length; g++ {
				if want[g] != r.Kind {
					t.Errorf("%s: grain %d is %v, want %v", c.name, g, r.Kind, want[g])
				}
			}
			if r.Kind == block.Data {
				buf := make([]byte, r.Length)
				if err := r.Read(ctx, buf); err != nil {
					t.Fatal(err)
				}
				for i := int64(0); i < r.Length; i += grain {
					if g := (off + i) / grain; buf[i] != byte(g+1) {
						t.Errorf("%s: grain %d starts with %d", c.name, g, buf[i])
					}
				}
			}
			off += r.Length
		}
		e.Close()
	}
}
