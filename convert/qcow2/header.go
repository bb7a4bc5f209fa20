// Package qcow2 reads and writes QEMU qcow2 images (version 3, 64 KiB
// clusters when writing; any cluster size when reading).
package qcow2

import (
	"encoding/binary"

	"github.com/podvm-migrate/podvm-migrate/convert/block"
)

const (
	magic         = 0x514649fb // "QFI\xfb"
	headerV3Len   = 104
	flagCopied    = 1 << 63
	flagCompress  = 1 << 62
	flagZero      = 1
	offsetMask    = 0x00fffffffffffe00
	incDirty      = 1 << 0
	incCorrupt    = 1 << 1
	incDataFile   = 1 << 2
	incCompType   = 1 << 3
	incExtendedL2 = 1 << 4
)

// header is the qcow2 header (big-endian on disk).
type header struct {
	Version          uint32
	BackingOffset    uint64
	BackingSize      uint32
	ClusterBits      uint32
	Size             uint64
	CryptMethod      uint32
	L1Size           uint32
	L1Offset         uint64
	RefTableOffset   uint64
	RefTableClusters uint32
	NbSnapshots      uint32
	SnapshotsOffset  uint64
	Incompatible     uint64
	Compatible       uint64
	Autoclear        uint64
	RefcountOrder    uint32
	HeaderLength     uint32
	CompressionType  uint8
}

func (h *header) marshal() []byte {
	b := make([]byte, headerV3Len+8) // and the end-of-extensions marker
	be := binary.BigEndian
	be.PutUint32(b[0:], magic)
	be.PutUint32(b[4:], h.Version)
	be.PutUint64(b[8:], h.BackingOffset)
	be.PutUint32(b[16:], h.BackingSize)
	be.PutUint32(b[20:], h.ClusterBits)
	be.PutUint64(b[24:], h.Size)
	be.PutUint32(b[32:], h.CryptMethod)
	be.PutUint32(b[36:], h.L1Size)
	be.PutUint64(b[40:], h.L1Offset)
	be.PutUint64(b[48:], h.RefTableOffset)
	be.PutUint32(b[56:], h.RefTableClusters)
	be.PutUint32(b[60:], h.NbSnapshots)
	be.PutUint64(b[64:], h.SnapshotsOffset)
	be.PutUint64(b[72:], h.Incompatible)
	be.PutUint64(b[80:], h.Compatible)
	be.PutUint64(b[88:], h.Autoclear)
	be.PutUint32(b[96:], h.RefcountOrder)
	be.PutUint32(b[100:], h.HeaderLength)
	return b
}

func parseHeader(file string, b []byte) (header, error) {
	var h header
	be := binary.BigEndian
	if len(b) < 72 || be.Uint32(b) != magic {
		return h, block.Errorf(file, 0, "not a qcow2 image (no QFI magic)")
	}
	h.Version = be.Uint32(b[4:])
	h.BackingOffset = be.Uint64(b[8:])
	h.BackingSize = be.Uint32(b[16:])
	h.ClusterBits = be.Uint32(b[20:])
	h.Size = be.Uint64(b[24:])
	h.CryptMethod = be.Uint32(b[32:])
	h.L1Size = be.Uint32(b[36:])
	h.L1Offset = be.Uint64(b[40:])
	h.RefTableOffset = be.Uint64(b[48:])
	h.RefTableClusters = be.Uint32(b[56:])
	h.NbSnapshots = be.Uint32(b[60:])
	h.SnapshotsOffset = be.Uint64(b[64:])
	h.RefcountOrder = 4
	h.HeaderLength = 72
	if h.Version >= 3 {
		if len(b) < headerV3Len {
			return h, block.Errorf(file, 72, "truncated version 3 header")
		}
		h.Incompatible = be.Uint64(b[72:])
		h.Compatible = be.Uint64(b[80:])
		h.Autoclear = be.Uint64(b[88:])
		h.RefcountOrder = be.Uint32(b[96:])
		h.HeaderLength = be.Uint32(b[100:])
		if h.HeaderLength > headerV3Len && len(b) > headerV3Len {
			h.CompressionType = b[104]
		}
	}
	switch {
	case h.Version != 2 && h.Version != 3:
		return h, block.Errorf(file, 4, "unsupported qcow2 version %d", h.Version)
	case h.ClusterBits < 9 || h.ClusterBits > 21:
		return h, block.Errorf(file, 20, "cluster bits %d: want 9 to 21", h.ClusterBits)
	case h.CryptMethod != 0:
		return h, block.Errorf(file, 32, "encrypted images are not supported")
	case h.Incompatible&incCorrupt != 0:
		return h, block.Errorf(file, 72, "image is marked corrupt: run 'qemu-img check -r all'")
	case h.Incompatible&incDataFile != 0:
		return h, block.Errorf(file, 72, "images with an external data file are not supported")
	case h.Incompatible&incExtendedL2 != 0:
		return h, block.Errorf(file, 72, "images with extended L2 entries are not supported")
	case h.Incompatible&incCompType != 0 && h.CompressionType != 0:
		return h, block.Errorf(file, 104, "compression type %d is not supported (only deflate)", h.CompressionType)
	case h.Size > 1<<50:
		return h, block.Errorf(file, 24, "size %d is too large", h.Size)
	}
	return h, nil
}
