package vmdk

import (
	"encoding/binary"
	"fmt"

	"github.com/podvm-migrate/podvm-migrate/convert/block"
)

// The ESX sparse extent (vmfsSparse): a "COWD" header of 2048 bytes, a grain
// directory of 32-bit sector offsets of grain tables, and grain tables of
// 4096 32-bit sector offsets of grains, 0 where the grain is unallocated.
// ESX writes version 1 with grains of one sector; version 3 is the older
// Workstation 3 layout, whose grain tables have another size.
const (
	cowdHeaderSize = 2048
	cowdVersion    = 1
	cowdGTEntries  = 4096
	cowdMaxGrain   = 2048 // sectors
)

// cowdHeader is the part of the COWD header a reader needs; the rest names
// the parent (the descriptor does too) and records generations.
type cowdHeader struct {
	Version      uint32
	Flags        uint32
	NumSectors   uint32
	GrainSize    uint32 // sectors
	GDOffset     uint32 // sectors
	NumGDEntries uint32
	FreeSector   uint32
}

// parseCOWDHeader decodes and checks the header at the start of file.
func parseCOWDHeader(file string, b []byte) (cowdHeader, error) {
	le := binary.LittleEndian
	var h cowdHeader
	if len(b) < cowdHeaderSize || le.Uint32(b) != cowdMagic {
		return h, block.Errorf(file, 0, "not a vmfsSparse extent (no COWD magic)")
	}
	h.Version = le.Uint32(b[4:])
	h.Flags = le.Uint32(b[8:])
	h.NumSectors = le.Uint32(b[12:])
	h.GrainSize = le.Uint32(b[16:])
	h.GDOffset = le.Uint32(b[20:])
	h.NumGDEntries = le.Uint32(b[24:])
	h.FreeSector = le.Uint32(b[28:])
	switch {
	case h.Version != cowdVersion:
		return h, block.Errorf(file, 4, "COWD version %d: only the ESX vmfsSparse layout, version %d, is supported", h.Version, cowdVersion)
	case h.GrainSize == 0 || h.GrainSize > cowdMaxGrain:
		return h, block.Errorf(file, 16, "grain size of %d sectors: want 1 to %d", h.GrainSize, cowdMaxGrain)
	case h.GDOffset < cowdHeaderSize/sector:
		return h, block.Errorf(file, 20, "grain directory offset %d is inside the header", h.GDOffset)
	}
	cover := int64(h.GrainSize) * cowdGTEntries
	if want := (int64(h.NumSectors) + cover - 1) / cover; int64(h.NumGDEntries) < want {
		return h, block.Errorf(file, 24, "%d grain directory entries cover %d sectors, the extent holds %d", h.NumGDEntries, int64(h.NumGDEntries)*cover, h.NumSectors)
	}
	return h, nil
}

// openCOWD opens an ESX vmfsSparse extent of size guest bytes (0: what the
// header says).
func openCOWD(f *block.File, size int64) (*tableExtent, error) {
	hb := make([]byte, cowdHeaderSize)
	if err := f.ReadFull(hb, 0); err != nil {
		return nil, fmt.Errorf("vmfsSparse header: %w", err)
	}
	h, err := parseCOWDHeader(f.Name, hb)
	if err != nil {
		return nil, err
	}
	e := &tableExtent{f: f, size: int64(h.NumSectors) * sector, grain: int64(h.GrainSize) * sector,
		gtEntries: cowdGTEntries, entrySize: 4, gdOff: int64(h.GDOffset) * sector}
	if size > e.size {
		return nil, block.Errorf(f.Name, 12, "extent holds %d sectors, the descriptor says %d", h.NumSectors, size/sector)
	}
	if size > 0 {
		e.size = size
	}
	if e.gdOff+int64(h.NumGDEntries)*4 > f.Len {
		return nil, block.Errorf(f.Name, e.gdOff, "truncated: the grain directory of %d entries does not fit in the file (%d bytes)", h.NumGDEntries, f.Len)
	}
	raw := make([]byte, int64(h.NumGDEntries)*4)
	if err := f.ReadFull(raw, e.gdOff); err != nil {
		return nil, fmt.Errorf("grain directory: %w", err)
	}
	e.gt = make([]int64, h.NumGDEntries)
	for i := range e.gt {
		e.gt[i] = int64(binary.LittleEndian.Uint32(raw[4*i:])) * sector
	}
	if err := e.checkTables(); err != nil {
		return nil, err
	}
	e.decode = func(v uint64, g, where int64) (grainRef, error) {
		switch {
		case v == 0:
			return grainRef{kind: block.Hole}, nil
		case v < cowdHeaderSize/sector:
			return grainRef{}, block.Errorf(f.Name, where, "grain table entry %d for grain %d points into the header", v, g)
		}
		return grainRef{kind: block.Data, pos: int64(v) * sector}, nil
	}
	return e, nil
}
