package vmdk

import (
	"encoding/binary"

	"github.com/podvm-migrate/podvm-migrate/convert/block"
)

const (
	sector       = 512
	sparseMagic  = 0x564d444b // "KDMV"
	cowdMagic    = 0x44574f43 // "COWD", ESX vmfsSparse
	gdAtEnd      = ^uint64(0)
	flagNewline  = 1 << 0
	flagZeroGTE  = 1 << 2
	flagCompress = 1 << 16
	flagMarkers  = 1 << 17

	markerEOS    = 0
	markerGT     = 1
	markerGD     = 2
	markerFooter = 3
)

// sparseHeader is the 512-byte header of a hosted sparse extent.
type sparseHeader struct {
	Version      uint32
	Flags        uint32
	Capacity     uint64 // sectors
	GrainSize    uint64 // sectors
	DescOffset   uint64 // sectors
	DescSize     uint64 // sectors
	NumGTEsPerGT uint32
	RGDOffset    uint64 // sectors
	GDOffset     uint64 // sectors
	OverHead     uint64 // sectors
	Compress     uint16
	newline      [4]byte
}

// parseSparseHeader decodes and checks a header read from file at off.
func parseSparseHeader(file string, off int64, b []byte) (sparseHeader, error) {
	le := binary.LittleEndian
	var h sparseHeader
	if len(b) < sector || le.Uint32(b) != sparseMagic {
		return h, block.Errorf(file, off, "not a VMDK sparse extent (no KDMV magic)")
	}
	h.Version = le.Uint32(b[4:])
	h.Flags = le.Uint32(b[8:])
	h.Capacity = le.Uint64(b[12:])
	h.GrainSize = le.Uint64(b[20:])
	h.DescOffset = le.Uint64(b[28:])
	h.DescSize = le.Uint64(b[36:])
	h.NumGTEsPerGT = le.Uint32(b[44:])
	h.RGDOffset = le.Uint64(b[48:])
	h.GDOffset = le.Uint64(b[56:])
	h.OverHead = le.Uint64(b[64:])
	copy(h.newline[:], b[73:77])
	h.Compress = le.Uint16(b[77:])
	return h, h.check(file, off)
}

func (h sparseHeader) check(file string, off int64) error {
	switch {
	case h.Version < 1 || h.Version > 3:
		return block.Errorf(file, off+4, "unsupported sparse extent version %d", h.Version)
	case h.GrainSize == 0 || h.GrainSize > 2048 || h.GrainSize&(h.GrainSize-1) != 0:
		return block.Errorf(file, off+20, "grain size of %d sectors: want a power of two up to 2048", h.GrainSize)
	case h.NumGTEsPerGT == 0 || h.NumGTEsPerGT > 1<<16:
		return block.Errorf(file, off+44, "%d grain table entries per table: want 1 to 65536", h.NumGTEsPerGT)
	case h.Capacity > 1<<40:
		return block.Errorf(file, off+12, "capacity of %d sectors is too large", h.Capacity)
	case h.Flags&flagNewline != 0 && h.newline != [4]byte{'\n', ' ', '\r', '\n'}:
		return block.Errorf(file, off+73, "newline check bytes %q are damaged (file copied in text mode?)", h.newline[:])
	case h.Flags&flagCompress != 0 && h.Compress != 1:
		return block.Errorf(file, off+77, "unsupported compression algorithm %d", h.Compress)
	}
	return nil
}
