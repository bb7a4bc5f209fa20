// Package raw reads and writes raw disk images; holes in the file are
// unallocated guest blocks.
package raw

import (
	"context"

	"github.com/podvm-migrate/podvm-migrate/convert/block"
)

// Image is a raw disk image file opened for reading.
type Image struct {
	flat block.Flat
}

var _ block.Image = (*Image)(nil)

// Open opens a raw image.
func Open(path string) (*Image, error) {
	f, err := block.OpenFile(path)
	if err != nil {
		return nil, err
	}
	return OpenFile(f), nil
}

// OpenFile reads a raw image from an open file (local or remote).
func OpenFile(f *block.File) *Image { return &Image{flat: block.Flat{F: f, Size: f.Len}} }

// Format is "raw".
func (*Image) Format() string { return "raw" }

// Size is the file size.
func (i *Image) Size() int64 { return i.flat.Size }

// Map reports data segments as data and holes as zeros.
func (i *Image) Map(ctx context.Context, off, max int64) (block.Run, error) {
	return i.flat.Map(ctx, off, max)
}

// Close closes the file.
func (i *Image) Close() error { return i.flat.Close() }
