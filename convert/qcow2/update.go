package qcow2

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"slices"
)

// Updater writes guest byte ranges into an existing qcow2 image in place:
// the image a Writer made, brought up to date by warm migration's precopy
// rounds. Allocated clusters are overwritten where they are; new data
// clusters, L2 tables and refcount blocks are appended to the file, and the
// refcount table moves to the end of the file when it outgrows its clusters.
//
// Flush makes the writes durable in an order that never leaves the image
// inconsistent: the appended clusters and their refcounts first, then the
// L2 and L1 entries that point to them. A crash before Flush at worst
// leaves unreferenced clusters past the last refcounted one.
//
// An Updater is not safe for concurrent use.
type Updater struct {
	geometry
	f    *os.File
	name string
	h    header

	end      int64 // next free cluster of the file
	l1       []uint64
	l1Dirty  bool
	l2s      map[int64]*l2Table // by L1 index
	refTable []uint64           // file offset of each refcount block; 0: none yet
	refCap   int64              // entries the refcount table's clusters hold
	blocks   map[int64]*refBlock
	written  int64
	zeros    []byte
	pending  bool // WriteAt was called since the last Flush
}

type l2Table struct {
	off     int64
	entries []uint64
	dirty   bool
	fresh   bool // appended by this Updater, nothing points to it on disk yet
}

type refBlock struct {
	refs  []uint16
	dirty bool
}

// OpenUpdate opens the qcow2 image at path for in-place updates. Images
// with a backing file, internal snapshots, compressed clusters in the way
// of a write or refcounts other than 16 bits are refused.
func OpenUpdate(path string) (*Updater, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("qcow2: open for update: %w", err)
	}
	u, err := openUpdate(f, path)
	if err != nil {
		f.Close()
		return nil, err
	}
	return u, nil
}

func openUpdate(f *os.File, path string) (*Updater, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("qcow2: %s: %w", path, err)
	}
	hb := make([]byte, min(st.Size(), 4096))
	if _, err := f.ReadAt(hb, 0); err != nil {
		return nil, fmt.Errorf("qcow2: %s: header: %w", path, err)
	}
	h, err := parseHeader(path, hb)
	if err != nil {
		return nil, err
	}
	switch {
	case h.BackingOffset != 0:
		return nil, fmt.Errorf("qcow2: %s has a backing file: in-place updates need a self-contained image (qemu-img convert it first)", path)
	case h.NbSnapshots != 0:
		return nil, fmt.Errorf("qcow2: %s has %d internal snapshots: in-place updates would change them (qemu-img snapshot -d them first)", path, h.NbSnapshots)
	case h.RefcountOrder != 4:
		return nil, fmt.Errorf("qcow2: %s has %d-bit refcounts: in-place updates support 16-bit refcounts only", path, 1<<h.RefcountOrder)
	case h.Incompatible&incDirty != 0:
		return nil, fmt.Errorf("qcow2: %s is marked dirty (lazy refcounts): run 'qemu-img check -r all' on it first", path)
	}
	g := newGeometry(h.ClusterBits)
	u := &Updater{geometry: g, f: f, name: path, h: h, l2s: map[int64]*l2Table{}, blocks: map[int64]*refBlock{}}
	u.end = (st.Size() + g.clusterSize - 1) &^ (g.clusterSize - 1)
	need := (int64(h.Size) + g.l2Cover - 1) / g.l2Cover
	if int64(h.L1Size) < need || h.L1Size > 1<<26 {
		return nil, fmt.Errorf("qcow2: %s: L1 table of %d entries cannot map %d bytes", path, h.L1Size, h.Size)
	}
	if u.l1, err = u.readTable(int64(h.L1Offset), int64(h.L1Size)); err != nil {
		return nil, fmt.Errorf("qcow2: %s: L1 table: %w", path, err)
	}
	u.refCap = int64(h.RefTableClusters) * g.clusterSize / 8
	if h.RefTableClusters == 0 || h.RefTableClusters > 1<<20 {
		return nil, fmt.Errorf("qcow2: %s: refcount table of %d clusters", path, h.RefTableClusters)
	}
	if u.refTable, err = u.readTable(int64(h.RefTableOffset), u.refCap); err != nil {
		return nil, fmt.Errorf("qcow2: %s: refcount table: %w", path, err)
	}
	for len(u.refTable) > 0 && u.refTable[len(u.refTable)-1] == 0 {
		u.refTable = u.refTable[:len(u.refTable)-1]
	}
	return u, nil
}

// readTable reads n big-endian 64-bit entries at off.
func (u *Updater) readTable(off, n int64) ([]uint64, error) {
	raw := make([]byte, n*8)
	if _, err := u.f.ReadAt(raw, off); err != nil {
		return nil, fmt.Errorf("offset %d: %w", off, err)
	}
	t := make([]uint64, n)
	for i := range t {
		t[i] = binary.BigEndian.Uint64(raw[8*i:])
	}
	return t, nil
}

// Size is the guest size.
func (u *Updater) Size() int64 { return int64(u.h.Size) }

// Written is how many bytes the Updater wrote to the file, metadata included.
func (u *Updater) Written() int64 { return u.written }

// WriteAt writes p at guest offset off. Ranges need not be cluster-aligned;
// the rest of a newly allocated cluster reads as zeros. All-zero data over
// unallocated clusters allocates nothing.
func (u *Updater) WriteAt(ctx context.Context, p []byte, off int64) error {
	if off < 0 || off+int64(len(p)) > u.Size() {
		return fmt.Errorf("qcow2: %s: write of %d bytes at %d is past the end of the %d-byte disk", u.name, len(p), off, u.Size())
	}
	for len(p) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		u.pending = true
		c, within := off/u.clusterSize, off%u.clusterSize
		n := min(u.clusterSize-within, int64(len(p)))
		if err := u.writeCluster(c, within, p[:n]); err != nil {
			return err
		}
		p, off = p[n:], off+n
	}
	return nil
}

func (u *Updater) writeCluster(c, within int64, p []byte) error {
	t, err := u.table(c/u.l2Entries, false)
	if err != nil {
		return err
	}
	var e uint64
	if t != nil {
		e = t.entries[c%u.l2Entries]
	}
	switch {
	case e&flagCompress != 0:
		return fmt.Errorf("qcow2: %s: guest cluster %d is compressed: in-place updates need an uncompressed image", u.name, c)
	case e&offsetMask != 0:
		return u.pwrite(p, int64(e&offsetMask)+within)
	case u.isZero(p):
		return nil // unallocated or a zero cluster already reads as zeros
	}
	if t == nil {
		if t, err = u.table(c/u.l2Entries, true); err != nil {
			return err
		}
	}
	host, err := u.alloc(1)
	if err != nil {
		return err
	}
	buf := p
	if int64(len(p)) != u.clusterSize {
		buf = make([]byte, u.clusterSize)
		copy(buf[within:], p)
	}
	if err := u.pwrite(buf, host); err != nil {
		return err
	}
	t.entries[c%u.l2Entries] = flagCopied | uint64(host)
	t.dirty = true
	return nil
}

func (u *Updater) isZero(p []byte) bool {
	if len(u.zeros) < len(p) {
		u.zeros = make([]byte, u.clusterSize)
	}
	return bytes.Equal(p, u.zeros[:len(p)])
}

// table returns the L2 table of L1 index i, reading it on first use; with
// create, a missing one is allocated, else nil is returned for it.
func (u *Updater) table(i int64, create bool) (*l2Table, error) {
	if t, ok := u.l2s[i]; ok {
		return t, nil
	}
	off := int64(u.l1[i] & offsetMask)
	if off != 0 {
		entries, err := u.readTable(off, u.l2Entries)
		if err != nil {
			return nil, fmt.Errorf("qcow2: %s: L2 table %d: %w", u.name, i, err)
		}
		t := &l2Table{off: off, entries: entries}
		u.l2s[i] = t
		return t, nil
	}
	if !create {
		return nil, nil
	}
	off, err := u.alloc(1)
	if err != nil {
		return nil, err
	}
	t := &l2Table{off: off, entries: make([]uint64, u.l2Entries), dirty: true, fresh: true}
	u.l2s[i] = t
	u.l1[i] = flagCopied | uint64(off)
	u.l1Dirty = true
	return t, nil
}

// alloc appends n contiguous clusters to the file and counts a reference
// to each.
func (u *Updater) alloc(n int64) (int64, error) {
	pos := u.end
	u.end += n * u.clusterSize
	for c := pos / u.clusterSize; c < u.end/u.clusterSize; c++ {
		if err := u.addRef(c, 1); err != nil {
			return 0, err
		}
	}
	return pos, nil
}

// addRef changes the refcount of host cluster c by d.
func (u *Updater) addRef(c int64, d int) error {
	b, err := u.block(c / u.refPerBlock)
	if err != nil {
		return err
	}
	i := c % u.refPerBlock
	r := int(b.refs[i]) + d
	if r < 0 || r > 0xffff {
		return fmt.Errorf("qcow2: %s: refcount of cluster %d would be %d", u.name, c, r)
	}
	b.refs[i] = uint16(r)
	b.dirty = true
	return nil
}

// block returns refcount block i, read from the file or new (placed on Flush).
func (u *Updater) block(i int64) (*refBlock, error) {
	if b, ok := u.blocks[i]; ok {
		return b, nil
	}
	b := &refBlock{refs: make([]uint16, u.refPerBlock)}
	if i < int64(len(u.refTable)) && u.refTable[i] != 0 {
		raw := make([]byte, u.clusterSize)
		off := int64(u.refTable[i] & offsetMask)
		if _, err := u.f.ReadAt(raw, off); err != nil {
			return nil, fmt.Errorf("qcow2: %s: refcount block %d at offset %d: %w", u.name, i, off, err)
		}
		for k := range b.refs {
			b.refs[k] = binary.BigEndian.Uint16(raw[2*k:])
		}
	}
	u.blocks[i] = b
	return b, nil
}

func (u *Updater) pwrite(p []byte, off int64) error {
	if _, err := u.f.WriteAt(p, off); err != nil {
		return fmt.Errorf("qcow2: %s: offset %d: %w", u.name, off, err)
	}
	u.written += int64(len(p))
	return nil
}

// Flush writes the metadata the writes since the last Flush changed and
// syncs the file: appended clusters, refcount blocks, the refcount table
// (moved to the end of the file when it is full) and the header first,
// then the L2 and L1 entries that reference them. With no write since the
// last Flush it does nothing: the file, its modification time included,
// stays as it was.
func (u *Updater) Flush(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !u.pending {
		return nil
	}
	oldTable, oldClusters := int64(u.h.RefTableOffset), int64(u.h.RefTableClusters)
	moved := false
	for {
		// Place every new refcount block; placing one counts it, which may
		// need another.
		for placed := true; placed; {
			placed = false
			for _, i := range u.blockIndexes() {
				if i < int64(len(u.refTable)) && u.refTable[i] != 0 {
					continue
				}
				pos, err := u.alloc(1)
				if err != nil {
					return err
				}
				for int64(len(u.refTable)) <= i {
					u.refTable = append(u.refTable, 0)
				}
				u.refTable[i] = uint64(pos)
				placed = true
			}
		}
		if int64(len(u.refTable)) <= u.refCap {
			break
		}
		// The table is full: a bigger one at the end of the file.
		entries := int64(len(u.refTable))*2 + 8
		clusters := (entries*8 + u.clusterSize - 1) / u.clusterSize
		pos, err := u.alloc(clusters)
		if err != nil {
			return err
		}
		if moved { // a table this Flush placed and now outgrew
			for c := int64(u.h.RefTableOffset) / u.clusterSize; c < int64(u.h.RefTableOffset)/u.clusterSize+int64(u.h.RefTableClusters); c++ {
				if err := u.addRef(c, -1); err != nil {
					return err
				}
			}
		}
		u.h.RefTableOffset, u.h.RefTableClusters, u.refCap, moved = uint64(pos), uint32(clusters), clusters*u.clusterSize/8, true
	}
	// Phase 1: new tables, refcounts, the refcount table, the header.
	for _, t := range u.l2s {
		if t.fresh && t.dirty {
			if err := u.pwrite(be64s(t.entries, u.cl), t.off); err != nil {
				return err
			}
			t.fresh, t.dirty = false, false
		}
	}
	if err := u.writeBlocks(); err != nil {
		return err
	}
	if err := u.pwrite(be64s(u.refTable, int(u.refCap*8)), int64(u.h.RefTableOffset)); err != nil {
		return err
	}
	if moved {
		if err := u.f.Sync(); err != nil {
			return fmt.Errorf("qcow2: %s: sync: %w", u.name, err)
		}
		if err := u.writeHeader(); err != nil {
			return err
		}
		if err := u.f.Sync(); err != nil {
			return fmt.Errorf("qcow2: %s: sync: %w", u.name, err)
		}
		// Only now is the old table free.
		for c := oldTable / u.clusterSize; c < oldTable/u.clusterSize+oldClusters; c++ {
			if err := u.addRef(c, -1); err != nil {
				return err
			}
		}
		if err := u.writeBlocks(); err != nil {
			return err
		}
	}
	if err := u.f.Sync(); err != nil {
		return fmt.Errorf("qcow2: %s: sync: %w", u.name, err)
	}
	// Phase 2: the entries that point to what phase 1 made durable.
	for _, t := range u.l2s {
		if t.dirty {
			if err := u.pwrite(be64s(t.entries, u.cl), t.off); err != nil {
				return err
			}
			t.dirty = false
		}
	}
	if u.l1Dirty {
		if err := u.pwrite(be64s(u.l1, len(u.l1)*8), int64(u.h.L1Offset)); err != nil {
			return err
		}
		u.l1Dirty = false
	}
	if err := u.f.Sync(); err != nil {
		return fmt.Errorf("qcow2: %s: sync: %w", u.name, err)
	}
	u.pending = false
	return nil
}

// blockIndexes lists the loaded refcount blocks in order.
func (u *Updater) blockIndexes() []int64 {
	idx := make([]int64, 0, len(u.blocks))
	for i := range u.blocks {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	return idx
}

func (u *Updater) writeBlocks() error {
	for _, i := range u.blockIndexes() {
		b := u.blocks[i]
		if !b.dirty {
			continue
		}
		raw := make([]byte, u.clusterSize)
		for k, r := range b.refs {
			binary.BigEndian.PutUint16(raw[2*k:], r)
		}
		if err := u.pwrite(raw, int64(u.refTable[i]&offsetMask)); err != nil {
			return err
		}
		b.dirty = false
	}
	return nil
}

// writeHeader rewrites the fields of the header that an Updater changes.
func (u *Updater) writeHeader() error {
	var b [12]byte
	binary.BigEndian.PutUint64(b[0:], u.h.RefTableOffset)
	binary.BigEndian.PutUint32(b[8:], u.h.RefTableClusters)
	return u.pwrite(b[:], 48)
}

// Close flushes and closes the image.
func (u *Updater) Close(ctx context.Context) error {
	err := u.Flush(ctx)
	if cerr := u.f.Close(); err == nil {
		err = cerr
	}
	return err
}
