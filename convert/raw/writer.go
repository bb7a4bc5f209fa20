package raw

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/podvm-migrate/podvm-migrate/convert/block"
)

// zeroBlock is the granularity at which zeros become holes: the engine's
// zero map answers for it without reading the window again.
const zeroBlock = block.ZeroBlock

// Writer writes a sparse raw image: zero blocks stay holes.
type Writer struct {
	t       *block.Target
	size    int64
	written atomic.Int64
}

var _ block.Writer = (*Writer)(nil)

// Create starts a raw image of size bytes at path.
func Create(path string, size int64, o block.TargetOptions) (*Writer, error) {
	t, err := block.CreateTarget(path, o)
	if err != nil {
		return nil, err
	}
	if err := t.Truncate(size); err != nil {
		t.Abort()
		return nil, fmt.Errorf("%s: %w", t.Name(), err)
	}
	return &Writer{t: t, size: size}, nil
}

// span is a run of non-zero bytes inside a window.
type span struct{ start, end int }

// Encode finds the runs of non-zero blocks.
func (w *Writer) Encode(win *block.Window) error {
	var spans []span
	d := win.Data
	for i := 0; i < len(d); i += zeroBlock {
		end := min(i+zeroBlock, len(d))
		if win.IsZero(i, end) {
			continue
		}
		if n := len(spans); n > 0 && spans[n-1].end == i {
			spans[n-1].end = end
		} else {
			spans = append(spans, span{i, end})
		}
	}
	win.Encoded = spans
	return nil
}

// Write stores the window's runs of non-zero blocks. Writes to one file
// take its inode lock in turn however many goroutines write, and those
// waiting for it spin (2% of the samples of a 2 GiB copy from the workers):
// the engine's one ordered writer costs less.
func (w *Writer) Write(_ context.Context, win *block.Window) error {
	for _, s := range win.Encoded.([]span) {
		if _, err := w.t.WriteAt(win.Data[s.start:s.end], win.Offset+int64(s.start)); err != nil {
			return fmt.Errorf("%s: offset %d: %w", w.t.Name(), win.Offset+int64(s.start), err)
		}
		w.written.Add(int64(s.end - s.start))
	}
	return nil
}

// Written is how many bytes were stored.
func (w *Writer) Written() int64 { return w.written.Load() }

// Commit syncs the file and renames it into place.
func (w *Writer) Commit(context.Context) error { return w.t.Commit() }

// Abort removes the partial file.
func (w *Writer) Abort() error { return w.t.Abort() }
