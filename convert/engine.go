package convert

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"

	"github.com/podvm-migrate/podvm-migrate/convert/block"
)

// DefaultWindow is the engine's unit of work: a 1 MiB aligned piece of the disk.
const DefaultWindow = 1 << 20

// maxInFlight bounds the windows in memory at once, whatever the core count.
const maxInFlight = 48

// CopyOptions tune Copy.
type CopyOptions struct {
	Workers  int                     // goroutines reading, inflating and encoding; default: all cores
	Window   int64                   // bytes per unit of work; default DefaultWindow
	Progress func(done, total int64) // called from one goroutine after each window
	// NoChecksum skips the SHA-256, which runs on one core at about
	// 1.7 GB/s of guest bytes, holes included.
	NoChecksum bool
}

// CopyStats is what Copy did.
type CopyStats struct {
	VirtualBytes   int64  `json:"virtualBytes"`
	AllocatedBytes int64  `json:"allocatedBytes"`   // guest bytes the source stores
	ReadBytes      int64  `json:"readBytes"`        // bytes read from the source's files
	WrittenBytes   int64  `json:"writtenBytes"`     // bytes written to the target, metadata included
	SHA256         string `json:"sha256,omitempty"` // of the guest-visible bytes
}

// job is one window on its way through the workers to the writer.
type job struct {
	win  block.Window
	runs []placed
	buf  []byte
	done chan error
}

// placed is a data run at an offset inside a window.
type placed struct {
	at  int64
	run block.Run
}

// Copy streams the guest bytes of src into dst: windows with data are read,
// inflated and encoded on Workers goroutines, then hashed and written in
// order; windows without data are hashed as zeros and never read or written.
// At most a fixed number of windows are in memory, whatever the disk size.
// Copy does not Commit or Abort dst.
func Copy(ctx context.Context, src block.Image, dst block.Writer, o CopyOptions) (CopyStats, error) {
	if o.Workers <= 0 {
		o.Workers = runtime.NumCPU()
	}
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	inFlight := min(4*o.Workers+4, maxInFlight)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	size := src.Size()
	st := CopyStats{VirtualBytes: size}
	bufs := make(chan []byte, inFlight)
	for range inFlight {
		bufs <- make([]byte, o.Window)
	}
	work := make(chan *job)
	order := make(chan *job, inFlight)
	zeros := make([]byte, o.Window) // read-only: the data of empty windows
	var mapped CopyStats            // written by the producer only, read after order closes
	go produce(ctx, src, o.Window, zeros, bufs, work, order, &mapped)
	for range o.Workers {
		go func() {
			for j := range work {
				j.done <- fill(ctx, dst, j)
			}
		}()
	}

	// The writer stores windows in order and passes them on to the hasher,
	// so hashing one window overlaps writing the next.
	hashq := make(chan *job, inFlight)
	sum := make(chan string, 1)
	go func() {
		h := sha256.New()
		for j := range hashq {
			if !o.NoChecksum {
				h.Write(j.win.Data)
			}
			if j.buf != nil {
				bufs <- j.buf
			}
			if o.Progress != nil && ctx.Err() == nil {
				o.Progress(j.win.Offset+int64(len(j.win.Data)), size)
			}
		}
		if o.NoChecksum {
			sum <- ""
			return
		}
		sum <- hex.EncodeToString(h.Sum(nil))
	}()
	var err error
	for j := range order {
		jerr := <-j.done
		if err == nil {
			if err = jerr; err == nil && !j.win.Empty {
				err = dst.Write(ctx, &j.win)
			}
			if err != nil {
				cancel()
			}
		}
		hashq <- j
	}
	close(hashq)
	digest := <-sum
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return st, err
	}
	st.AllocatedBytes, st.ReadBytes = mapped.AllocatedBytes, mapped.ReadBytes
	st.WrittenBytes = dst.Written()
	st.SHA256 = digest
	return st, nil
}

// produce maps the source window by window and hands windows with data to
// the workers, and every window, in order, to the writer.
func produce(ctx context.Context, src block.Image, window int64, zeros []byte, bufs chan []byte, work, order chan<- *job, st *CopyStats) {
	defer close(order)
	defer close(work)
	size := src.Size()
	for off := int64(0); off < size; off += window {
		n := min(window, size-off)
		j := &job{win: block.Window{Offset: off}, done: make(chan error, 1)}
		err := mapWindow(ctx, src, off, n, j, st)
		if err == nil && len(j.runs) == 0 {
			j.win.Empty = true
		}
		if err == nil && !j.win.Empty {
			select {
			case j.buf = <-bufs:
			case <-ctx.Done():
				err = ctx.Err()
			}
		}
		if j.buf != nil {
			j.win.Data = j.buf[:n]
		} else {
			j.win.Data = zeros[:n]
		}
		if err != nil || j.win.Empty {
			j.done <- err
			order <- j
			if err != nil {
				return
			}
			continue
		}
		order <- j
		select {
		case work <- j:
		case <-ctx.Done():
			j.done <- ctx.Err()
			return
		}
	}
}

// mapWindow collects the data runs of [off, off+n).
func mapWindow(ctx context.Context, src block.Image, off, n int64, j *job, st *CopyStats) error {
	for p := off; p < off+n; {
		r, err := src.Map(ctx, p, off+n-p)
		if err != nil {
			return err
		}
		if r.Length <= 0 || r.Length > off+n-p {
			return fmt.Errorf("%s: offset %d: bad run length %d", src.Format(), p, r.Length)
		}
		if r.Kind == block.Data {
			if r.Read == nil {
				return errors.New("data run without a reader")
			}
			j.runs = append(j.runs, placed{at: p - off, run: r})
			st.AllocatedBytes += r.Length
			st.ReadBytes += r.Stored
		}
		p += r.Length
	}
	return nil
}

// fill reads a window's runs, zeroes the rest, and encodes it.
func fill(ctx context.Context, dst block.Writer, j *job) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	d := j.win.Data
	at := int64(0)
	for _, p := range j.runs {
		clear(d[at:p.at])
		end := p.at + p.run.Length
		if err := p.run.Read(ctx, d[p.at:end]); err != nil {
			return err
		}
		at = end
	}
	clear(d[at:])
	return dst.Encode(&j.win)
}
