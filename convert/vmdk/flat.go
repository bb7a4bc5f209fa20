package vmdk

import (
	"context"

	"github.com/podvm-migrate/podvm-migrate/convert/block"
)

// flatExtent is a plain file of guest sectors from a start offset
// (FLAT and VMFS extents). Holes in the file read as zeros.
type flatExtent struct {
	f    *block.File
	base int64 // byte offset of the extent's first sector in the file
	size int64
	seg  block.Segment // the last segment looked up, in file offsets
}

func openFlat(f *block.File, base, size int64, line int64, desc string) (*flatExtent, error) {
	if base+size > f.Len {
		return nil, block.Errorf(desc, line, "flat extent %s holds %d bytes from offset %d, but the file has only %d", f.Name, size, base, f.Len)
	}
	return &flatExtent{f: f, base: base, size: size}, nil
}

// Map maps off (relative to the extent) to a data or zero run.
func (e *flatExtent) Map(_ context.Context, off, max int64) (block.Run, error) {
	max = min(max, e.size-off)
	pos := e.base + off
	if pos < e.seg.Start || pos >= e.seg.End {
		s, err := e.f.SegmentAt(pos)
		if err != nil {
			return block.Run{}, err
		}
		e.seg = s
	}
	n := min(max, e.seg.End-pos)
	if !e.seg.Data {
		return block.Run{Length: n, Kind: block.Zero}, nil
	}
	f := e.f
	return block.Run{Length: n, Kind: block.Data, Stored: n, Read: func(_ context.Context, dst []byte) error {
		return f.ReadFull(dst, pos)
	}}, nil
}

// Close closes the extent file.
func (e *flatExtent) Close() error { return e.f.Close() }
