package vmdk

import (
	"context"
	"encoding/binary"

	"github.com/podvm-migrate/podvm-migrate/convert/block"
)

// grainMarker is the 12 bytes before a compressed grain: its LBA and size.
const grainMarker = 12

// compressedRun maps part of compressed grain g, whose marker is at sector gte.
func (e *sparseExtent) compressedRun(g int64, gte uint32, where, within, n int64) (block.Run, error) {
	pos := int64(gte) * sector
	if pos+grainMarker > e.f.Len {
		return block.Run{}, block.Errorf(e.f.Name, where, "grain table entry for grain %d points to offset %d, past the end of the file (%d bytes)", g, pos, e.f.Len)
	}
	stored := min(e.grain+grainMarker+sector, e.f.Len-pos)
	return block.Run{Length: n, Kind: block.Data, Stored: stored, Read: func(_ context.Context, dst []byte) error {
		if within == 0 && int64(len(dst)) == e.grain {
			return e.inflateGrain(g, pos, dst)
		}
		bp := e.bufs.Get().(*[]byte)
		defer e.bufs.Put(bp)
		if err := e.inflateGrain(g, pos, *bp); err != nil {
			return err
		}
		copy(dst, (*bp)[within:])
		return nil
	}}, nil
}

// inflateGrain reads the marker at pos and inflates the grain into dst,
// which is one grain long.
func (e *sparseExtent) inflateGrain(g, pos int64, dst []byte) error {
	// Most grains fit in one read of a grain plus a sector of slack.
	cp := e.cbufs.Get().(*[]byte)
	defer e.cbufs.Put(cp)
	buf := (*cp)[:min(e.grain+grainMarker+sector, e.f.Len-pos)]
	if err := e.f.ReadFull(buf, pos); err != nil {
		return err
	}
	lba := binary.LittleEndian.Uint64(buf)
	size := int64(binary.LittleEndian.Uint32(buf[8:]))
	want := uint64(g) * uint64(e.h.GrainSize)
	if lba != want {
		return block.Errorf(e.f.Name, pos, "grain marker says LBA %d, the grain table says %d", lba, want)
	}
	if size == 0 || size > 2*e.grain+4096 {
		return block.Errorf(e.f.Name, pos+8, "compressed grain size %d is invalid", size)
	}
	if grainMarker+size > int64(len(buf)) {
		more := make([]byte, grainMarker+size)
		if err := e.f.ReadFull(more, pos); err != nil {
			return err
		}
		buf = more
	}
	data := buf[grainMarker : grainMarker+size]
	// The last grain of a disk may hold less than a whole grain.
	need := min(e.grain, int64(e.h.Capacity)*sector-g*e.grain)
	if err := e.inf.Zlib(dst[:need], data); err != nil {
		return block.Wrap(e.f.Name, pos+grainMarker, err, "grain %d", g)
	}
	clear(dst[need:])
	return nil
}
