package block

import (
	"context"
	"fmt"
	"sort"
)

// Extent is a byte range of a disk.
type Extent struct {
	Offset, Length int64
}

// Restricted is an image read only inside Areas: everywhere else it is a
// hole, whatever the image holds there. It is for a source whose own map
// cannot tell data from unallocated space (a flat extent read over HTTP)
// when something it trusts can: vSphere's changed block tracking lists
// the areas a disk holds.
type Restricted struct {
	Image
	areas []Extent
	bytes int64
}

var _ Image = (*Restricted)(nil)

// Restrict reads img only inside areas, which must be in increasing
// order, not overlapping, and inside the image.
func Restrict(img Image, areas []Extent) (*Restricted, error) {
	r := &Restricted{Image: img, areas: make([]Extent, 0, len(areas))}
	end := int64(0)
	for i, a := range areas {
		if a.Length <= 0 || a.Offset < end || a.Offset+a.Length > img.Size() {
			return nil, fmt.Errorf("%s: area %d (%d bytes at %d) is empty, out of order or past the disk's %d bytes", img.Format(), i, a.Length, a.Offset, img.Size())
		}
		if n := len(r.areas); n > 0 && r.areas[n-1].Offset+r.areas[n-1].Length == a.Offset {
			r.areas[n-1].Length += a.Length
		} else {
			r.areas = append(r.areas, a)
		}
		end = a.Offset + a.Length
		r.bytes += a.Length
	}
	return r, nil
}

// Areas is how many areas are read, and their bytes.
func (r *Restricted) Areas() (int, int64) { return len(r.areas), r.bytes }

// Map maps off in the image inside an area, and as a hole up to the next
// area outside them.
func (r *Restricted) Map(ctx context.Context, off, max int64) (Run, error) {
	// The first area that ends after off.
	i := sort.Search(len(r.areas), func(i int) bool { return r.areas[i].Offset+r.areas[i].Length > off })
	if i == len(r.areas) {
		return Run{Length: max, Kind: Hole}, nil
	}
	a := r.areas[i]
	if off < a.Offset {
		return Run{Length: min(max, a.Offset-off), Kind: Hole}, nil
	}
	return r.Image.Map(ctx, off, min(max, a.Offset+a.Length-off))
}
