package qcow2

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/flate"

	"github.com/podvm-migrate/podvm-migrate/convert/block"
)

const (
	// DefaultClusterBits gives 64 KiB clusters, as qemu-img does.
	DefaultClusterBits = 16
	maxFlush           = 4 << 20
)

// geometry is what the cluster size decides.
type geometry struct {
	bits        uint32
	clusterSize int64
	cl          int // clusterSize as an int
	l2Entries   int64
	l2Cover     int64 // guest bytes one L2 table maps
	refPerBlock int64 // 16-bit refcounts per refcount block
	csizeShift  uint  // compressed cluster descriptor: where the sector count starts
}

func newGeometry(bits uint32) geometry {
	cs := int64(1) << bits
	return geometry{bits: bits, clusterSize: cs, cl: int(cs), l2Entries: cs / 8, l2Cover: cs * (cs / 8), refPerBlock: cs / 2,
		csizeShift: uint(62 - (bits - 8))}
}

// Writer writes a qcow2 v3 image from guest data in increasing offsets.
// Clusters are appended as they come; each L2 table is written once the
// guest offset moves past it; refcount blocks sit at the first cluster of
// the 2 GiB of file they count and are written when the file grows past
// them. Memory stays a few hundred KiB whatever the disk size.
type Writer struct {
	geometry
	t        *block.Target
	size     int64
	compress bool
	level    int

	end      int64 // next free byte of the file
	l1       []uint64
	l2       []uint64
	l2Index  int64 // L1 index of l2, -1 for none
	refs     []uint16
	refIndex int64    // refcount block in refs
	refTable []uint64 // file offset of each refcount block
	pend     []byte   // bytes queued for the file at pendAt, contiguous there
	pendAt   int64
	staged   bool   // pend is stage (a copy), not borrowed from a window or table
	stage    []byte // reused for small pieces (compressed clusters)
	written  int64
	lastOff  int64
	err      error // the first failed write of emit
	zw       sync.Pool
	teeFn    func(size int64) io.Writer
	pl       *plan // the layout, when planned (see Plan)
}

var _ block.Writer = (*Writer)(nil)

// WriterOptions tune a qcow2 Writer.
type WriterOptions struct {
	block.TargetOptions
	Compress    bool   // deflate every cluster that gets smaller
	Level       int    // deflate level 1-9; default 6
	ClusterBits uint32 // 9 (512 bytes) to 20 (1 MiB, the engine window); default 16 (64 KiB)
	// Tee, when set, asks for a planned image (see Plan) and is called
	// once, with the file's final size, when the plan is made; the writer
	// it returns gets every byte of the file in file order while the copy
	// runs. A copy that cannot plan (a stream source, compression) never
	// calls it.
	Tee func(size int64) io.Writer
}

// Create starts a qcow2 image of size guest bytes at path.
func Create(path string, size int64, o WriterOptions) (*Writer, error) {
	t, err := block.CreateTarget(path, o.TargetOptions)
	if err != nil {
		return nil, err
	}
	if o.Level == 0 {
		o.Level = 6
	}
	if o.ClusterBits == 0 {
		o.ClusterBits = DefaultClusterBits
	}
	if o.ClusterBits < 9 || o.ClusterBits > 20 {
		t.Abort()
		return nil, fmt.Errorf("qcow2: cluster bits %d: want 9 to 20", o.ClusterBits)
	}
	g := newGeometry(o.ClusterBits)
	w := &Writer{geometry: g, t: t, size: size, compress: o.Compress, level: o.Level, l2Index: -1, lastOff: -1, teeFn: o.Tee,
		l1:   make([]uint64, (size+g.l2Cover-1)/g.l2Cover),
		refs: make([]uint16, g.refPerBlock), refTable: []uint64{uint64(g.clusterSize)},
		end: 2 * g.clusterSize}
	w.refs[0], w.refs[1] = 1, 1 // the header and refcount block 0
	return w, nil
}

// cluster is the encoded form of one guest cluster.
type cluster struct {
	zero bool
	comp []byte // deflated, when smaller than the cluster
}

// Encode finds zero clusters and, when compressing, deflates the others.
func (w *Writer) Encode(win *block.Window) error {
	if win.Offset%w.clusterSize != 0 {
		return fmt.Errorf("qcow2: window at %d is not cluster-aligned", win.Offset)
	}
	d := win.Data
	cs := make([]cluster, (len(d)+w.cl-1)/w.cl)
	for i := range cs {
		start, end := i*w.cl, min((i+1)*w.cl, len(d))
		c := d[start:end]
		if win.IsZero(start, end) {
			cs[i].zero = true
			continue
		}
		if w.compress {
			comp, err := w.deflate(c)
			if err != nil {
				return err
			}
			cs[i].comp = comp
		}
	}
	win.Encoded = cs
	return nil
}

func (w *Writer) deflate(c []byte) ([]byte, error) {
	var out bytes.Buffer
	out.Grow(w.cl)
	zw, _ := w.zw.Get().(*flate.Writer)
	if zw == nil {
		var err error
		if zw, err = flate.NewWriter(&out, w.level); err != nil {
			return nil, err
		}
	} else {
		zw.Reset(&out)
	}
	defer w.zw.Put(zw)
	if _, err := zw.Write(c); err != nil {
		return nil, err
	}
	if len(c) < w.cl {
		if _, err := zw.Write(make([]byte, w.cl-len(c))); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	if out.Len() >= w.cl-512 {
		return nil, nil
	}
	return out.Bytes(), nil
}

// Write appends the window's non-zero clusters and maps them.
func (w *Writer) Write(_ context.Context, win *block.Window) error {
	err := w.write(win)
	// The window's buffer goes back to the engine: nothing may point into it.
	if ferr := w.flush(); err == nil {
		err = ferr
	}
	return w.pendingErr(err)
}

func (w *Writer) write(win *block.Window) error {
	if win.Offset <= w.lastOff {
		return fmt.Errorf("qcow2: window at %d after %d: writes must come in order", win.Offset, w.lastOff)
	}
	w.lastOff = win.Offset
	if w.pl != nil {
		return w.writePlanned(win)
	}
	for i, c := range win.Encoded.([]cluster) {
		if c.zero {
			continue
		}
		guest := win.Offset + int64(i)*w.clusterSize
		if err := w.selectL2(guest / w.l2Cover); err != nil {
			return err
		}
		var entry uint64
		if c.comp != nil {
			pos, err := w.place(int64(len(c.comp)), false)
			if err != nil {
				return err
			}
			w.emit(pos, c.comp)
			extra := uint64((pos+int64(len(c.comp))-1)/512 - pos/512)
			entry = flagCompress | extra<<w.csizeShift | uint64(pos)
		} else {
			pos, err := w.place(w.clusterSize, true)
			if err != nil {
				return err
			}
			data := win.Data[i*w.cl : min((i+1)*w.cl, len(win.Data))]
			w.emit(pos, data)
			if len(data) < w.cl {
				w.emit(pos+int64(len(data)), make([]byte, w.cl-len(data)))
			}
			entry = flagCopied | uint64(pos)
		}
		w.l2[(guest/w.clusterSize)%w.l2Entries] = entry
		if err := w.maybeFlush(); err != nil {
			return err
		}
	}
	return nil
}

// selectL2 makes the L2 table of L1 index i current, writing out the previous one.
func (w *Writer) selectL2(i int64) error {
	if i == w.l2Index {
		return nil
	}
	if err := w.flushL2(); err != nil {
		return err
	}
	w.l2Index = i
	if w.l2 == nil {
		w.l2 = make([]uint64, w.l2Entries)
	} else {
		clear(w.l2)
	}
	return nil
}

func (w *Writer) flushL2() error {
	if w.l2Index < 0 {
		return nil
	}
	pos, err := w.place(w.clusterSize, true)
	if err != nil {
		return err
	}
	w.emit(pos, be64s(w.l2, w.cl))
	w.l1[w.l2Index] = flagCopied | uint64(pos)
	w.l2Index = -1
	return nil
}

// place reserves n bytes at the end of the file (cluster-aligned if align),
// stepping over the clusters kept for refcount blocks, and counts a
// reference to every cluster the bytes touch.
func (w *Writer) place(n int64, align bool) (int64, error) {
	pos := w.end
	if align {
		pos = (pos + w.clusterSize - 1) &^ (w.clusterSize - 1)
	}
	for {
		first, last := pos/w.clusterSize, (pos+n-1)/w.clusterSize
		next := (w.refIndex + 1) * w.refPerBlock // the cluster kept for the next refcount block
		if next > last {
			break
		}
		if err := w.startRefBlock(next); err != nil {
			return 0, err
		}
		if first <= next {
			pos = (next + 1) * w.clusterSize
		}
	}
	for c := pos / w.clusterSize; c <= (pos+n-1)/w.clusterSize; c++ {
		w.refs[c%w.refPerBlock]++
	}
	w.end = pos + n
	return pos, nil
}

// startRefBlock writes out the current refcount block and starts the next
// one at cluster c, the first it counts.
func (w *Writer) startRefBlock(c int64) error {
	if err := w.writeRefBlock(); err != nil {
		return err
	}
	w.refIndex++
	clear(w.refs)
	w.refs[0] = 1 // itself
	w.refTable = append(w.refTable, uint64(c*w.clusterSize))
	return nil
}

func (w *Writer) writeRefBlock() error {
	b := make([]byte, w.clusterSize)
	for i, r := range w.refs {
		binary.BigEndian.PutUint16(b[2*i:], r)
	}
	off := int64(w.refTable[w.refIndex])
	if _, err := w.t.WriteAt(b, off); err != nil {
		return fmt.Errorf("%s: offset %d: %w", w.t.Name(), off, err)
	}
	w.written += w.clusterSize
	return nil
}

// minBorrow is the smallest piece emit queues without copying it.
const minBorrow = 4096

// emit queues b for the file at pos; bytes contiguous in the file are
// written together. Pieces of minBorrow bytes or more are borrowed: a
// window's clusters, contiguous in the window and in the file, are written
// straight from the window, without a copy. Smaller pieces (compressed
// clusters) are copied into a staging buffer. Write flushes before it
// returns, so nothing refers to a window after it.
func (w *Writer) emit(pos int64, b []byte) {
	if len(w.pend) > 0 && w.pendAt+int64(len(w.pend)) == pos {
		switch {
		case w.staged:
			w.pend = append(w.pend, b...)
			return
		case follows(w.pend, b):
			w.pend = w.pend[:len(w.pend)+len(b)]
			return
		}
	}
	w.pendingErr(w.flush())
	w.pendAt = pos
	if len(b) >= minBorrow {
		w.pend, w.staged = b, false
		return
	}
	w.pend, w.staged = append(w.stage[:0], b...), true
}

// follows reports whether b starts where a ends, in the same array.
func follows(a, b []byte) bool {
	return len(b) > 0 && cap(a)-len(a) >= len(b) && &a[:len(a)+1][len(a)] == &b[0]
}

func (w *Writer) maybeFlush() error {
	if len(w.pend) >= maxFlush {
		return w.flush()
	}
	return w.pendingErr(nil)
}

// flush writes the queued bytes.
func (w *Writer) flush() error {
	if len(w.pend) == 0 {
		return nil
	}
	if _, err := w.t.WriteAt(w.pend, w.pendAt); err != nil {
		return fmt.Errorf("%s: offset %d: %w", w.t.Name(), w.pendAt, err)
	}
	w.written += int64(len(w.pend))
	if w.staged {
		w.stage = w.pend[:0]
	}
	w.pend = nil
	return nil
}

// pendingErr keeps the first error and returns it.
func (w *Writer) pendingErr(err error) error {
	if w.err == nil {
		w.err = err
	}
	return w.err
}

// be64s encodes vals big-endian into n bytes.
func be64s(vals []uint64, n int) []byte {
	b := make([]byte, n)
	for i, v := range vals {
		binary.BigEndian.PutUint64(b[8*i:], v)
	}
	return b
}

// Written is how many bytes were written, metadata included.
func (w *Writer) Written() int64 { return w.written + int64(len(w.pend)) }

// Commit writes the last L2 table, the L1 table, the refcount table and
// blocks and the header, then moves the image to its final name.
func (w *Writer) Commit(context.Context) error {
	if w.pl != nil {
		return w.commitPlanned()
	}
	if err := w.pendingErr(w.flushL2()); err != nil {
		return err
	}
	l1Bytes := max(1, (len(w.l1)*8+w.cl-1)/w.cl) * w.cl
	l1Pos, err := w.place(int64(l1Bytes), true)
	if err != nil {
		return err
	}
	w.emit(l1Pos, be64s(w.l1, l1Bytes))
	// Room for one more refcount block that placing the table itself may start.
	rtBytes := ((len(w.refTable)+2)*8 + w.cl - 1) / w.cl * w.cl
	rtPos, err := w.place(int64(rtBytes), true)
	if err != nil {
		return err
	}
	w.emit(rtPos, be64s(w.refTable, rtBytes))
	if err := w.pendingErr(w.flush()); err != nil {
		return err
	}
	if err := w.writeRefBlock(); err != nil {
		return err
	}
	h := header{Version: 3, ClusterBits: w.bits, Size: uint64(w.size), L1Size: uint32(len(w.l1)),
		L1Offset: uint64(l1Pos), RefTableOffset: uint64(rtPos), RefTableClusters: uint32(rtBytes / w.cl),
		RefcountOrder: 4, HeaderLength: headerV3Len}
	if _, err := w.t.WriteAt(h.marshal(), 0); err != nil {
		return fmt.Errorf("%s: header: %w", w.t.Name(), err)
	}
	w.written += w.clusterSize
	return w.t.Commit()
}

// Abort removes the partial image.
func (w *Writer) Abort() error { return w.t.Abort() }
