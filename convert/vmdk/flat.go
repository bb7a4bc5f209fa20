package vmdk

import (
	"github.com/podvm-migrate/podvm-migrate/convert/block"
)

// flatExtent is a plain file of guest sectors from a start offset
// (FLAT and VMFS extents). Holes in the file read as zeros.
type flatExtent struct{ block.Flat }

func openFlat(f *block.File, base, size int64, line int64, desc string) (*flatExtent, error) {
	if base+size > f.Len {
		return nil, block.Errorf(desc, line, "flat extent %s holds %d bytes from offset %d, but the file has only %d", f.Name, size, base, f.Len)
	}
	return &flatExtent{block.Flat{F: f, Base: base, Size: size}}, nil
}

func (e *flatExtent) file() *block.File { return e.F }
