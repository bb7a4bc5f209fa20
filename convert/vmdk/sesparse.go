package vmdk

import (
	"encoding/binary"
	"fmt"

	"github.com/podvm-migrate/podvm-migrate/convert/block"
)

// The SEsparse extent (space-efficient sparse, the VMFS6 snapshot default):
// a constant header in sector 0, a volatile header, a journal, a grain
// directory and grain tables of 64-bit entries, and an area of grains. All
// offsets and sizes in the constant header are in sectors. The top four
// bits of an entry give its type:
//
//   - a directory entry is 0 (no grain table) or 1 with the index of its
//     table in the grain table area;
//   - a table entry is 0 (unallocated: the parent shows through), 1
//     (unmapped by the guest) or 2 (zero), both read as zeros, or 3 with
//     the index of the grain in the grain area: its low 12 bits in bits
//     48-59 of the entry, the rest in bits 0-47.
const (
	seConstMagic    = 0xcafebabe
	seVolatileMagic = 0xcafecafe
	seVersion       = 0x0000000200000001
	seMaxGrain      = 2048 // sectors
	seMaxTable      = 1024 // sectors

	seTypeShift     = 60
	seDirTable      = 1
	seGrainUnmapped = 1
	seGrainZero     = 2
	seGrainData     = 3
)

// seHeader is the constant header of an SEsparse extent.
type seHeader struct {
	Version        uint64
	Capacity       uint64 // sectors
	GrainSize      uint64 // sectors
	GrainTableSize uint64 // sectors per grain table
	Flags          uint64
	VolatileOffset uint64
	GDOffset       uint64
	GDSize         uint64 // sectors
	GTOffset       uint64 // the grain table area
	GrainsOffset   uint64 // the grain area
}

// parseSEHeader decodes and checks the constant header at the start of file.
func parseSEHeader(file string, b []byte) (seHeader, error) {
	le := binary.LittleEndian
	var h seHeader
	if len(b) < sector || le.Uint64(b) != seConstMagic {
		return h, block.Errorf(file, 0, "not an SEsparse extent (no 0xcafebabe magic)")
	}
	h.Version = le.Uint64(b[8:])
	h.Capacity = le.Uint64(b[16:])
	h.GrainSize = le.Uint64(b[24:])
	h.GrainTableSize = le.Uint64(b[32:])
	h.Flags = le.Uint64(b[40:])
	h.VolatileOffset = le.Uint64(b[80:])
	h.GDOffset = le.Uint64(b[128:])
	h.GDSize = le.Uint64(b[136:])
	h.GTOffset = le.Uint64(b[144:])
	h.GrainsOffset = le.Uint64(b[192:])
	switch {
	case h.Version != seVersion:
		return h, block.Errorf(file, 8, "unsupported SEsparse version %#x", h.Version)
	case h.Capacity > 1<<40:
		return h, block.Errorf(file, 16, "capacity of %d sectors is too large", h.Capacity)
	case h.GrainSize == 0 || h.GrainSize > seMaxGrain:
		return h, block.Errorf(file, 24, "grain size of %d sectors: want 1 to %d", h.GrainSize, seMaxGrain)
	case h.GrainTableSize == 0 || h.GrainTableSize > seMaxTable:
		return h, block.Errorf(file, 32, "grain tables of %d sectors: want 1 to %d", h.GrainTableSize, seMaxTable)
	case h.Flags != 0:
		return h, block.Errorf(file, 40, "unsupported SEsparse flags %#x", h.Flags)
	}
	for _, f := range []struct {
		at  int64
		val uint64
	}{{80, h.VolatileOffset}, {128, h.GDOffset}, {136, h.GDSize}, {144, h.GTOffset}, {192, h.GrainsOffset}} {
		if f.val > 1<<50 {
			return h, block.Errorf(file, f.at, "offset or size of %d sectors is too large", f.val)
		}
	}
	return h, nil
}

// openSESparse opens an SEsparse extent of size guest bytes (0: what the
// header says).
func openSESparse(f *block.File, size int64) (*tableExtent, error) {
	hb := make([]byte, sector)
	if err := f.ReadFull(hb, 0); err != nil {
		return nil, fmt.Errorf("SEsparse header: %w", err)
	}
	h, err := parseSEHeader(f.Name, hb)
	if err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	vol := int64(h.VolatileOffset) * sector
	vb := make([]byte, 32)
	if err := f.ReadFull(vb, vol); err != nil {
		return nil, fmt.Errorf("SEsparse volatile header: %w", err)
	}
	if le.Uint64(vb) != seVolatileMagic {
		return nil, block.Errorf(f.Name, vol, "SEsparse volatile header has no 0xcafecafe magic")
	}
	if le.Uint64(vb[24:]) != 0 {
		return nil, block.Errorf(f.Name, vol+24, "the SEsparse journal must be replayed (the delta was not closed cleanly): let ESXi open it, or consolidate the snapshot")
	}
	e := &tableExtent{f: f, size: int64(h.Capacity) * sector, grain: int64(h.GrainSize) * sector,
		gtEntries: int64(h.GrainTableSize) * sector / 8, entrySize: 8, gdOff: int64(h.GDOffset) * sector}
	if size > e.size {
		return nil, block.Errorf(f.Name, 16, "extent holds %d sectors, the descriptor says %d", h.Capacity, size/sector)
	}
	if size > 0 {
		e.size = size
	}
	gdBytes := int64(h.GDSize) * sector
	if e.gdOff+gdBytes > f.Len {
		return nil, block.Errorf(f.Name, e.gdOff, "truncated: the grain directory of %d sectors does not fit in the file (%d bytes)", h.GDSize, f.Len)
	}
	raw := make([]byte, gdBytes)
	if err := f.ReadFull(raw, e.gdOff); err != nil {
		return nil, fmt.Errorf("grain directory: %w", err)
	}
	tableBytes := e.gtEntries * 8
	tables := int64(h.GTOffset) * sector
	e.gt = make([]int64, gdBytes/8)
	for i := range e.gt {
		v := le.Uint64(raw[8*i:])
		if v == 0 {
			continue
		}
		where := e.gdOff + 8*int64(i)
		idx := v &^ (0xf << seTypeShift)
		switch {
		case v>>seTypeShift != seDirTable:
			return nil, block.Errorf(f.Name, where, "grain directory entry %d (%#016x) has unknown type %d", i, v, v>>seTypeShift)
		case idx > uint64(f.Len/tableBytes):
			return nil, block.Errorf(f.Name, where, "grain directory entry %d points to grain table %d, past the end of the file (%d bytes)", i, idx, f.Len)
		}
		e.gt[i] = tables + int64(idx)*tableBytes
	}
	if err := e.checkTables(); err != nil {
		return nil, err
	}
	grains := int64(h.GrainsOffset) * sector
	e.decode = func(v uint64, g, where int64) (grainRef, error) {
		switch v >> seTypeShift {
		case 0:
			if v == 0 {
				return grainRef{kind: block.Hole}, nil
			}
		case seGrainUnmapped, seGrainZero:
			return grainRef{kind: block.Zero}, nil
		case seGrainData:
			idx := (v>>48)&0xfff | (v&(1<<48-1))<<12
			if idx > uint64(f.Len/e.grain) {
				return grainRef{}, block.Errorf(f.Name, where, "grain table entry for grain %d points to grain %d, past the end of the file (%d bytes)", g, idx, f.Len)
			}
			return grainRef{kind: block.Data, pos: grains + int64(idx)*e.grain}, nil
		}
		return grainRef{}, block.Errorf(f.Name, where, "grain table entry %#016x for grain %d has unknown type %d", v, g, v>>seTypeShift)
	}
	return e, nil
}
