package vmdk

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/podvm-migrate/podvm-migrate/convert/block"
	"github.com/podvm-migrate/podvm-migrate/convert/internal/inflate"
)

// sparseExtent is a hosted sparse extent (KDMV): a grain directory of grain
// tables of grain offsets, with compressed grains behind markers in
// streamOptimized files.
type sparseExtent struct {
	f          *block.File
	h          sparseHeader
	size       int64 // guest bytes this extent covers
	grain      int64 // bytes
	gtEntries  int64
	gdOff      int64 // byte offset of the GD, for messages
	compressed bool
	zeroGTE    bool

	gts *gtCache

	bufs  sync.Pool // *[]byte of one inflated grain
	cbufs sync.Pool // *[]byte of one compressed grain and its marker
	inf   inflate.Inflater
}

// openSparse reads the header (or the footer of a streamOptimized file) and
// the grain directory of an open extent file.
func openSparse(f *block.File, size int64) (*sparseExtent, error) {
	hb := make([]byte, sector)
	if err := f.ReadFull(hb, 0); err != nil {
		return nil, err
	}
	h, err := parseSparseHeader(f.Name, 0, hb)
	if err != nil {
		return nil, err
	}
	if h.GDOffset == gdAtEnd {
		if h, err = readFooter(f); err != nil {
			return nil, err
		}
	}
	e := &sparseExtent{f: f, h: h, grain: int64(h.GrainSize) * sector, gtEntries: int64(h.NumGTEsPerGT),
		compressed: h.Flags&flagCompress != 0, zeroGTE: h.Flags&flagZeroGTE != 0}
	e.size = int64(h.Capacity) * sector
	if size > 0 && size > e.size {
		return nil, block.Errorf(f.Name, 12, "extent holds %d sectors, the descriptor says %d", h.Capacity, size/sector)
	}
	if size > 0 {
		e.size = size
	}
	cover := e.grain * e.gtEntries
	n := (int64(h.Capacity)*sector + cover - 1) / cover
	e.gdOff = int64(h.GDOffset) * sector
	if h.GDOffset == 0 || h.GDOffset > 1<<50 {
		return nil, block.Errorf(f.Name, 56, "grain directory offset %d is invalid", h.GDOffset)
	}
	if e.gdOff+n*4 > f.Len {
		return nil, block.Errorf(f.Name, e.gdOff, "truncated: the grain directory of %d entries does not fit in the file (%d bytes)", n, f.Len)
	}
	raw := make([]byte, n*4)
	if err := f.ReadFull(raw, e.gdOff); err != nil {
		return nil, fmt.Errorf("grain directory: %w", err)
	}
	offs := make([]int64, n)
	for i := range offs {
		offs[i] = int64(binary.LittleEndian.Uint32(raw[i*4:])) * sector
	}
	e.gts = newGTCache(f, offs, e.gtEntries*4, e.gdOff, 4)
	e.bufs.New = func() any { b := make([]byte, e.grain); return &b }
	e.cbufs.New = func() any { b := make([]byte, e.grain+grainMarker+sector); return &b }
	return e, nil
}

// readFooter reads the header copy that a streamOptimized file keeps near its
// end: footer marker, footer header, end-of-stream marker.
func readFooter(f *block.File) (sparseHeader, error) {
	off := f.Len - 3*sector
	if off < sector {
		return sparseHeader{}, block.Errorf(f.Name, f.Len, "truncated: the grain directory is at the end, but the file has no footer")
	}
	b := make([]byte, 3*sector)
	if err := f.ReadFull(b, off); err != nil {
		return sparseHeader{}, err
	}
	le := binary.LittleEndian
	if le.Uint32(b[8:]) != 0 || le.Uint32(b[12:]) != markerFooter {
		return sparseHeader{}, block.Errorf(f.Name, off, "truncated or damaged: no footer marker before the end of the file")
	}
	h, err := parseSparseHeader(f.Name, off+sector, b[sector:2*sector])
	if err != nil {
		return h, err
	}
	if h.GDOffset == gdAtEnd {
		return h, block.Errorf(f.Name, off+sector+56, "footer does not give the grain directory offset")
	}
	return h, nil
}

// grainEntry returns the grain table entry of grain g and where it is in the file.
func (e *sparseExtent) grainEntry(g int64) (uint32, int64, error) {
	t := g / e.gtEntries
	if t >= int64(len(e.gts.offs)) {
		return 0, 0, block.Errorf(e.f.Name, e.gdOff, "grain %d is past the grain directory", g)
	}
	if e.gts.offs[t] == 0 {
		return 0, 0, nil
	}
	gt, err := e.gts.table(t)
	if err != nil {
		return 0, 0, err
	}
	i := g % e.gtEntries
	return binary.LittleEndian.Uint32(gt[4*i:]), e.gts.offs[t] + 4*i, nil
}

// Map maps guest offset off (relative to the extent) to a run of at most max bytes.
func (e *sparseExtent) Map(ctx context.Context, off, max int64) (block.Run, error) {
	max = min(max, e.size-off)
	g := off / e.grain
	within := off % e.grain
	gte, where, err := e.grainEntry(g)
	if err != nil {
		return block.Run{}, err
	}
	first := min(e.grain-within, max)
	kind := e.kindOf(gte)
	switch {
	case kind != block.Data:
		n := first
		for n < max {
			next, _, err := e.grainEntry((off + n) / e.grain)
			if err != nil {
				return block.Run{}, err
			}
			if e.kindOf(next) != kind {
				break
			}
			n = min(n+e.grain, max)
		}
		return block.Run{Length: n, Kind: kind}, nil
	case e.compressed:
		return e.compressedRun(g, gte, where, within, first)
	}
	fileOff := int64(gte)*sector + within
	n := first
	for n < max {
		next, _, err := e.grainEntry((off + n) / e.grain)
		if err != nil {
			return block.Run{}, err
		}
		if e.kindOf(next) != block.Data || int64(next)*sector != fileOff+n {
			break
		}
		n = min(n+e.grain, max)
	}
	if fileOff+n > e.f.Len {
		return block.Run{}, block.Errorf(e.f.Name, where, "grain table entry for grain %d points to offset %d, past the end of the file (%d bytes)", g, int64(gte)*sector, e.f.Len)
	}
	f := e.f
	return block.Run{Length: n, Kind: block.Data, Stored: n, Read: func(_ context.Context, dst []byte) error {
		return f.ReadFull(dst, fileOff)
	}}, nil
}

func (e *sparseExtent) kindOf(gte uint32) block.Kind {
	switch {
	case gte == 0:
		return block.Hole
	case gte == 1 && e.zeroGTE:
		return block.Zero
	}
	return block.Data
}

// Close closes the extent file.
func (e *sparseExtent) Close() error { return e.f.Close() }

func (e *sparseExtent) file() *block.File { return e.f }
