package block

import "context"

// Overlay is an image over a backing image: holes in Top show Base.
type Overlay struct {
	Top  Image
	Base Image
}

var _ Image = (*Overlay)(nil)

// Format is the top image's format.
func (o *Overlay) Format() string { return o.Top.Format() }

// Size is the top image's size.
func (o *Overlay) Size() int64 { return o.Top.Size() }

// Map maps off in Top, and holes in Top in Base.
func (o *Overlay) Map(ctx context.Context, off, max int64) (Run, error) {
	r, err := o.Top.Map(ctx, off, max)
	if err != nil || r.Kind != Hole {
		return r, err
	}
	if off >= o.Base.Size() {
		return r, nil
	}
	return o.Base.Map(ctx, off, min(r.Length, o.Base.Size()-off))
}

// Close closes both images.
func (o *Overlay) Close() error {
	err := o.Top.Close()
	if err2 := o.Base.Close(); err == nil {
		err = err2
	}
	return err
}
