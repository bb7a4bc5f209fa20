package vmdk

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/podvm-migrate/podvm-migrate/convert/block"
	"github.com/podvm-migrate/podvm-migrate/convert/internal/inflate"
)

// Stream reads a streamOptimized VMDK front to back without seeking, the
// way an NFC export lease or an OVA member delivers it: grain markers in
// increasing LBA order, metadata skipped. Map must be called in increasing
// offsets (the engine does); Reads inflate on any goroutine.
type Stream struct {
	r     *bufio.Reader
	c     io.Closer
	name  string
	pos   int64 // bytes consumed from the stream
	size  int64
	grain int64
	eof   bool
	next  *pendingGrain
	last  int64 // guest offset of the last grain seen, for the order check
	inf   inflate.Inflater
	// payloads holds *[]byte of compressed grains: a grain read whole goes
	// back once inflated, so a disk's bytes are not allocated (and zeroed)
	// a second time on their way through.
	payloads sync.Pool
	marker   [sector]byte
}

// pendingGrain is a compressed grain read from the stream, not yet mapped.
type pendingGrain struct {
	off     int64 // guest offset
	at      int64 // stream offset of its marker
	payload []byte
	pooled  *[]byte // payload's buffer, from Stream.payloads
	inflate sync.Once
	data    []byte
	err     error
	whole   atomic.Bool // the run of the whole grain was read: payload is back in the pool
}

var _ block.Image = (*Stream)(nil)

// OpenStream starts reading a streamOptimized VMDK from r; Close closes c
// if it is not nil.
func OpenStream(name string, r io.Reader, c io.Closer) (*Stream, error) {
	s := &Stream{r: bufio.NewReaderSize(r, 1<<20), c: c, name: name, last: -1}
	hb := make([]byte, sector)
	if err := s.readFull(hb); err != nil {
		return nil, err
	}
	h, err := parseSparseHeader(name, 0, hb)
	if err != nil {
		return nil, err
	}
	if h.Flags&flagCompress == 0 || h.Flags&flagMarkers == 0 {
		return nil, block.Errorf(name, 8, "not a streamOptimized VMDK (flags %#x): only those can be read as a stream", h.Flags)
	}
	s.size, s.grain = int64(h.Capacity)*sector, int64(h.GrainSize)*sector
	// Grains start after the overhead (header, descriptor and, from
	// qemu-img, preallocated tables).
	if err := s.skip(int64(h.OverHead)*sector - sector); err != nil {
		return nil, err
	}
	return s, nil
}

// Format is "vmdk/streamOptimized".
func (s *Stream) Format() string { return "vmdk/streamOptimized" }

// Size is the guest size.
func (s *Stream) Size() int64 { return s.size }

// Close closes the underlying reader.
func (s *Stream) Close() error {
	if s.c != nil {
		return s.c.Close()
	}
	return nil
}

func (s *Stream) readFull(p []byte) error {
	n, err := io.ReadFull(s.r, p)
	s.pos += int64(n)
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return block.Errorf(s.name, s.pos, "truncated stream: need %d more bytes", len(p)-n)
		}
		return block.Wrap(s.name, s.pos, err, "read")
	}
	return nil
}

func (s *Stream) skip(n int64) error {
	if n <= 0 {
		return nil
	}
	m, err := s.r.Discard(int(n))
	s.pos += int64(m)
	if err != nil {
		return block.Errorf(s.name, s.pos, "truncated stream: cannot skip %d bytes", n-int64(m))
	}
	return nil
}

// advance reads markers up to the next grain, or to the end of the stream.
func (s *Stream) advance() error {
	for s.next == nil && !s.eof {
		at := s.pos
		m := s.marker[:grainMarker]
		n, err := io.ReadFull(s.r, m)
		s.pos += int64(n)
		if n == 0 && errors.Is(err, io.EOF) {
			s.eof = true // qemu-img's streams may stop without an end-of-stream marker
			return nil
		}
		if err != nil {
			return block.Errorf(s.name, at, "truncated stream: a marker is cut off")
		}
		le := binary.LittleEndian
		val, size := le.Uint64(m), int64(le.Uint32(m[8:]))
		if size == 0 {
			rest := s.marker[grainMarker:]
			if err := s.readFull(rest); err != nil {
				return err
			}
			switch typ := le.Uint32(rest); typ {
			case markerEOS:
				s.eof = true
			case markerGT, markerGD, markerFooter:
				if val > 1<<32 {
					return block.Errorf(s.name, at, "metadata marker of %d sectors is too large", val)
				}
				if err := s.skip(int64(val) * sector); err != nil {
					return err
				}
			default:
				return block.Errorf(s.name, at+12, "unknown marker type %d", typ)
			}
			continue
		}
		if size > 2*s.grain+4096 {
			return block.Errorf(s.name, at+8, "compressed grain size %d is invalid", size)
		}
		off := int64(val) * sector
		if off%s.grain != 0 || off >= s.size {
			return block.Errorf(s.name, at, "grain marker LBA %d is not a grain inside the disk", val)
		}
		if off <= s.last {
			return block.Errorf(s.name, at, "grain at LBA %d comes after LBA %d: a stream must be in order", val, s.last/sector)
		}
		bp, _ := s.payloads.Get().(*[]byte)
		if bp == nil || int64(cap(*bp)) < size {
			b := make([]byte, max(size, s.grain+s.grain/8))
			bp = &b
		}
		payload := (*bp)[:size]
		if err := s.readFull(payload); err != nil {
			return err
		}
		if err := s.skip((sector - (grainMarker+size)%sector) % sector); err != nil {
			s.eof = true // the last grain's padding may be missing
		}
		s.last = off
		s.next = &pendingGrain{off: off, at: at, payload: payload, pooled: bp}
	}
	return nil
}

// Map returns holes up to the next grain in the stream and that grain as data.
func (s *Stream) Map(_ context.Context, off, max int64) (block.Run, error) {
	max = min(max, s.size-off)
	if s.next != nil && off >= s.next.off+s.grain {
		s.next = nil
	}
	if err := s.advance(); err != nil {
		return block.Run{}, err
	}
	g := s.next
	if g == nil || g.off >= off+max {
		return block.Run{Length: max, Kind: block.Hole}, nil
	}
	if g.off > off {
		return block.Run{Length: g.off - off, Kind: block.Hole}, nil
	}
	within := off - g.off
	n := min(s.grain-within, max)
	if within+n >= s.grain {
		s.next = nil
	}
	return block.Run{Length: n, Kind: block.Data, Stored: int64(len(g.payload)), Read: func(_ context.Context, dst []byte) error {
		if within == 0 && int64(len(dst)) == s.grain {
			// The only run of this grain: its payload is done with after this.
			if g.whole.Swap(true) {
				return block.Errorf(s.name, g.at, "grain at LBA %d read twice", g.off/sector)
			}
			err := s.inflate(g, dst)
			s.payloads.Put(g.pooled)
			return err
		}
		g.inflate.Do(func() {
			g.data = make([]byte, s.grain)
			g.err = s.inflate(g, g.data)
		})
		if g.err != nil {
			return g.err
		}
		copy(dst, g.data[within:])
		return nil
	}}, nil
}

func (s *Stream) inflate(g *pendingGrain, dst []byte) error {
	need := min(s.grain, s.size-g.off)
	if err := s.inf.Zlib(dst[:need], g.payload); err != nil {
		return block.Wrap(s.name, g.at+grainMarker, err, "grain at LBA %d", g.off/sector)
	}
	clear(dst[need:])
	return nil
}

// String names the stream for messages.
func (s *Stream) String() string { return fmt.Sprintf("%s (stream)", s.name) }

// Sequential is true: a stream is walked once, front to back.
func (s *Stream) Sequential() bool { return true }
