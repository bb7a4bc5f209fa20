package convert

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"runtime"

	"github.com/podvm-migrate/podvm-migrate/convert/block"
	"github.com/podvm-migrate/podvm-migrate/convert/treehash"
)

// DefaultWindow is the engine's unit of work: a 1 MiB aligned piece of the disk.
const DefaultWindow = 1 << 20

// maxInFlight bounds the windows in memory at once, whatever the core count.
const maxInFlight = 48

// CopyOptions tune Copy.
type CopyOptions struct {
	Workers  int                     // goroutines reading, inflating and encoding; default: two per core
	Window   int64                   // bytes per unit of work; default DefaultWindow
	Progress func(done, total int64) // called from one goroutine after each window
	// Checksum is the digest of the guest-visible bytes: SumTree (default),
	// SumSHA256 or SumNone. See Checksum.
	Checksum string
}

// CopyStats is what Copy did.
type CopyStats struct {
	VirtualBytes   int64  `json:"virtualBytes"`
	AllocatedBytes int64  `json:"allocatedBytes"`     // guest bytes the source stores
	ReadBytes      int64  `json:"readBytes"`          // bytes read from the source's files
	WrittenBytes   int64  `json:"writtenBytes"`       // bytes written to the target, metadata included
	Checksum       string `json:"checksum,omitempty"` // of the guest-visible bytes, "algorithm:hex"
}

// job is one window on its way through the workers to the writer.
type job struct {
	win    block.Window
	runs   []placed
	buf    []byte
	leaves []leaf // tree hash leaves of win.Data, hashed by the worker
	done   chan error
}

// leaf is one tree hash leaf of a window.
type leaf struct {
	sum  treehash.Sum
	zero bool // all zeros: the tree adds it without hashing
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
		// A worker inflating in C (libdeflate) or reading holds its core's
		// scheduler slot until the runtime takes it back; a second worker
		// per core keeps the cores busy meanwhile (text grains, 2 cores:
		// 3.9 s -> 3.1 s for 2 GiB).
		o.Workers = 2 * runtime.NumCPU()
	}
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	if o.Checksum == "" {
		o.Checksum = SumTree
	}
	if err := CheckChecksum(o.Checksum); err != nil {
		return CopyStats{}, err
	}
	if o.Checksum == SumTree && o.Window%treehash.LeafSize != 0 {
		return CopyStats{}, fmt.Errorf("window %d: the tree hash needs a multiple of %d", o.Window, treehash.LeafSize)
	}
	inFlight := min(4*o.Workers+4, maxInFlight)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	size := src.Size()
	st := CopyStats{VirtualBytes: size}
	// A writer that can lay its file out in order is given the source's
	// map first, when the source can be mapped ahead of the copy.
	var follow func(*block.Window)
	if p, ok := dst.(block.Planner); ok && p.PlanCluster() > 0 && !block.IsSequential(src) {
		a, err := block.MapAllocation(ctx, src, p.PlanCluster())
		if err != nil {
			return st, err
		}
		if err := p.Plan(ctx, a); err != nil {
			return st, err
		}
		follow = p.Follow
	}
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
				j.done <- fill(ctx, dst, j, o.Checksum == SumTree)
			}
		}()
	}

	// The writer stores windows in order and passes them on to the hasher,
	// so hashing one window (and following it, for a planned writer)
	// overlaps writing the next.
	hashq := make(chan *job, inFlight)
	sum := make(chan digest, 1)
	go func() {
		s := newSummer(o.Checksum)
		for j := range hashq {
			s.add(j)
			if follow != nil {
				follow(&j.win)
			}
			if j.buf != nil {
				bufs <- j.buf
			}
			if o.Progress != nil && ctx.Err() == nil {
				o.Progress(j.win.Offset+int64(len(j.win.Data)), size)
			}
		}
		sum <- s.sum()
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
	d := <-sum
	if err == nil {
		err = ctx.Err()
	}
	if err == nil {
		err = d.err
	}
	if err != nil {
		return st, err
	}
	st.AllocatedBytes, st.ReadBytes = mapped.AllocatedBytes, mapped.ReadBytes
	st.WrittenBytes = dst.Written()
	st.Checksum = d.value
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

// fill reads a window's runs, zeroes the rest, finds its zero blocks,
// hashes its tree leaves (when tree is set) and encodes it.
func fill(ctx context.Context, dst block.Writer, j *job, tree bool) error {
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
	// One scan for zeros serves the tree hash and the writer.
	j.win.ScanZeros()
	if tree {
		j.leaves = j.leaves[:0]
		for off := 0; off < len(d); off += treehash.LeafSize {
			end := min(off+treehash.LeafSize, len(d))
			b := d[off:end]
			if j.win.IsZero(off, end) {
				j.leaves = append(j.leaves, leaf{zero: true})
			} else {
				j.leaves = append(j.leaves, leaf{sum: treehash.Leaf(b)})
			}
		}
	}
	return dst.Encode(&j.win)
}

// summer folds the windows, in order, into the digest of the guest bytes.
type summer struct {
	algorithm string
	flat      hash.Hash
	tree      treehash.Tree
}

type digest struct {
	value string // "algorithm:hex", or "" for SumNone
	err   error
}

func newSummer(algorithm string) *summer {
	s := &summer{algorithm: algorithm}
	if algorithm == SumSHA256 {
		s.flat = sha256.New()
	}
	return s
}

func (s *summer) add(j *job) {
	switch {
	case s.algorithm == SumSHA256:
		s.flat.Write(j.win.Data)
	case s.algorithm != SumTree:
	case j.win.Empty:
		s.tree.AddZeros(int64(len(j.win.Data)))
	default:
		for i, l := range j.leaves {
			n := min(treehash.LeafSize, len(j.win.Data)-i*treehash.LeafSize)
			if l.zero {
				s.tree.AddZeros(int64(n))
			} else {
				s.tree.Add(l.sum, n)
			}
		}
	}
}

func (s *summer) sum() digest {
	switch s.algorithm {
	case SumSHA256:
		return digest{value: SumSHA256 + ":" + hex.EncodeToString(s.flat.Sum(nil))}
	case SumTree:
		h, err := s.tree.Hex()
		return digest{value: SumTree + ":" + h, err: err}
	}
	return digest{}
}
