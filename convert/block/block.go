// Package block holds the small interfaces between disk formats and the copy
// engine: an Image maps guest offsets to what stores them, a Writer stores
// guest data in a target format.
package block

import (
	"bytes"
	"context"
	"fmt"
)

// Kind says what holds a run of guest bytes.
type Kind uint8

// The kinds of run an Image reports.
const (
	// Hole is unallocated: a backing image shows through, else it reads as zeros.
	Hole Kind = iota
	// Zero is explicitly zero (a zero grain or qcow2 zero cluster): it hides any backing image.
	Zero
	// Data is stored: Read fetches it.
	Data
)

func (k Kind) String() string {
	switch k {
	case Hole:
		return "hole"
	case Zero:
		return "zero"
	case Data:
		return "data"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Run is what an image holds for Length guest bytes from some offset.
type Run struct {
	Length int64
	Kind   Kind
	// Stored is how many bytes reading the run costs from storage (compressed
	// size for compressed grains); 0 for holes and zeros.
	Stored int64
	// Read fills dst (len(dst) == Length) with the guest bytes of a Data run.
	// It may be called from any goroutine, concurrently with other Reads.
	Read func(ctx context.Context, dst []byte) error
}

// Image is a disk image opened for reading.
type Image interface {
	// Format names the image format, e.g. "vmdk/streamOptimized" or "qcow2".
	Format() string
	// Size is the guest-visible size in bytes.
	Size() int64
	// Map describes the guest bytes from off: a run of 1 to max bytes.
	// Callers walk an image in increasing offsets, one goroutine at a time.
	Map(ctx context.Context, off, max int64) (Run, error)
	// Close releases the image's files.
	Close() error
}

// Window is one aligned piece of the guest disk on its way to a Writer.
type Window struct {
	Offset int64  // guest offset, a multiple of the engine's window size
	Data   []byte // the guest bytes, zeros where the source has none
	// Empty is true when the source holds no data in the window; Data is then all zeros.
	Empty bool
	// Encoded is the writer's private form of Data, set by Encode.
	Encoded any

	zero    []uint64 // bit i: Data's ZeroBlock i holds only zeros (after ScanZeros)
	scanned bool
}

// ZeroBlock is the unit of Window.ScanZeros: a page, and a file system block.
const ZeroBlock = 4096

// ScanZeros finds the ZeroBlock-sized blocks of Data that hold only zeros,
// so that every later IsZero of the window (the engine's tree hash leaves, a
// writer's clusters or blocks) is answered without reading Data again.
// Call it after Data is filled; a block of data costs a comparison of its
// first bytes.
func (w *Window) ScanZeros() {
	n := (len(w.Data) + ZeroBlock - 1) / ZeroBlock
	w.zero = make([]uint64, (n+63)/64)
	for i := range n {
		if IsZero(w.Data[i*ZeroBlock : min((i+1)*ZeroBlock, len(w.Data))]) {
			w.zero[i/64] |= 1 << (i % 64)
		}
	}
	w.scanned = true
}

// IsZero reports whether Data[start:end] holds only zeros, from ScanZeros'
// map where it covers the range, else by reading Data.
func (w *Window) IsZero(start, end int) bool {
	if w.Empty {
		return true
	}
	if !w.scanned {
		return IsZero(w.Data[start:end])
	}
	for start < end {
		i := start / ZeroBlock
		next := min((i+1)*ZeroBlock, end)
		if w.zero[i/64]&(1<<(i%64)) == 0 {
			// A block with data may still be zero in part (a 512-byte cluster).
			if start%ZeroBlock == 0 && next-start == min(ZeroBlock, len(w.Data)-start) {
				return false
			}
			if !IsZero(w.Data[start:next]) {
				return false
			}
		}
		start = next
	}
	return true
}

// Writer stores guest data in a target format.
type Writer interface {
	// Encode prepares a window for Write (finds zero blocks, compresses).
	// It is called from many goroutines at once, never for an Empty window.
	// A target whose writes do not depend on order (raw) may store the
	// window here.
	Encode(w *Window) error
	// Write stores an encoded window. It is called from one goroutine, in
	// increasing offsets, never for an Empty window.
	Write(ctx context.Context, w *Window) error
	// Written is how many bytes Write has stored so far (data and metadata).
	Written() int64
	// Commit finishes the target and moves it to its final name.
	Commit(ctx context.Context) error
	// Abort removes the partial target. It is safe after Commit (then it does nothing).
	Abort() error
}

// zeroPage is compared against; it is never written.
var zeroPage [64 << 10]byte

// IsZero reports whether b holds only zero bytes.
func IsZero(b []byte) bool {
	for len(b) > 0 {
		n := min(len(b), len(zeroPage))
		if !bytes.Equal(b[:n], zeroPage[:n]) {
			return false
		}
		b = b[n:]
	}
	return true
}
