// Package raw reads and writes raw disk images; holes in the file are
// unallocated guest blocks.
package raw

import (
	"context"

	"github.com/podvm-migrate/podvm-migrate/convert/block"
)

// Image is a raw disk image file opened for reading.
type Image struct {
	f   *block.File
	seg block.Segment
}

var _ block.Image = (*Image)(nil)

// Open opens a raw image.
func Open(path string) (*Image, error) {
	f, err := block.OpenFile(path)
	if err != nil {
		return nil, err
	}
	return &Image{f: f}, nil
}

// OpenFile reads a raw image from an open file (local or remote).
func OpenFile(f *block.File) *Image { return &Image{f: f} }

// Format is "raw".
func (*Image) Format() string { return "raw" }

// Size is the file size.
func (i *Image) Size() int64 { return i.f.Len }

// Map reports data segments as data and holes as zeros.
func (i *Image) Map(_ context.Context, off, max int64) (block.Run, error) {
	if off < i.seg.Start || off >= i.seg.End {
		s, err := i.f.SegmentAt(off)
		if err != nil {
			return block.Run{}, err
		}
		i.seg = s
	}
	n := min(max, i.seg.End-off)
	if !i.seg.Data {
		return block.Run{Length: n, Kind: block.Zero}, nil
	}
	f := i.f
	return block.Run{Length: n, Kind: block.Data, Stored: n, Read: func(_ context.Context, dst []byte) error {
		return f.ReadFull(dst, off)
	}}, nil
}

// Close closes the file.
func (i *Image) Close() error { return i.f.Close() }
