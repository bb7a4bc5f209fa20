package qcow2

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/podvm-migrate/podvm-migrate/convert/block"
)

// A planned image is laid out before any data arrives, from the source's
// allocation: the header, the L1 table, the refcount table, the refcount
// blocks and the L2 tables first, then one cluster per allocated guest
// cluster, in guest order. Every byte of the file is then known in file
// order as the copy goes, so a Tee can hash the file while it is written
// instead of reading it again afterwards (an image layer's digest, say).
// A cluster the source allocates but that turns out to hold only zeros
// keeps its place as a hole in the file: the metadata was fixed before
// the data was read.

var _ block.Planner = (*Writer)(nil)

// plan is the layout of a planned image.
type plan struct {
	alloc     *block.Allocation
	dataStart int64 // file offset of the first data cluster
	fileSize  int64
	tee       io.Writer
	teeN      int64 // bytes given to tee so far
	pad       []byte
	err       error
}

// PlanCluster is the cluster size when a Tee was given and clusters are
// not compressed (a compressed cluster's size is known only once it is
// deflated), else 0: without a plan the image is written as before.
//
// The plan keeps two bits per cluster of the disk in memory (1 MiB per
// 4 TiB at 64 KiB clusters); a disk of more than maxPlanClusters clusters
// is not planned.
func (w *Writer) PlanCluster() int64 {
	if w.teeFn == nil || w.compress || w.lastOff >= 0 || (w.size+w.clusterSize-1)/w.clusterSize > maxPlanClusters {
		return 0
	}
	return w.clusterSize
}

// maxPlanClusters bounds a plan's memory to 32 MiB.
const maxPlanClusters = 1 << 27

// Plan lays the image out for allocation a and writes all of its
// metadata, through the Tee too.
func (w *Writer) Plan(_ context.Context, a *block.Allocation) error {
	if w.PlanCluster() == 0 || w.pl != nil {
		return fmt.Errorf("qcow2: %s: cannot plan this image", w.t.Name())
	}
	if a.ClusterSize != w.clusterSize || a.Size != w.size {
		return fmt.Errorf("qcow2: %s: allocation of %d-byte clusters over %d bytes, the image has %d over %d",
			w.t.Name(), a.ClusterSize, a.Size, w.clusterSize, w.size)
	}
	cs := w.clusterSize
	nL1 := int64(len(w.l1))
	var l2s []int64 // L1 indexes with an L2 table
	for i := range nL1 {
		first := i * w.l2Entries
		if a.Any(first, first+w.l2Entries-1) {
			l2s = append(l2s, i)
		}
	}
	l1Clusters := max(1, (nL1*8+cs-1)/cs)
	fixed := 1 + l1Clusters + int64(len(l2s)) + a.Count()
	nRB, rtClusters := int64(1), int64(1)
	for {
		total := fixed + nRB + rtClusters
		needRB := (total + w.refPerBlock - 1) / w.refPerBlock
		needRT := max(1, (needRB*8+cs-1)/cs)
		if needRB == nRB && needRT == rtClusters {
			break
		}
		nRB, rtClusters = needRB, needRT
	}
	l1At := cs
	rtAt := l1At + l1Clusters*cs
	rbAt := rtAt + rtClusters*cs
	l2At := rbAt + nRB*cs
	dataStart := l2At + int64(len(l2s))*cs
	total := dataStart/cs + a.Count()
	p := &plan{alloc: a, dataStart: dataStart, fileSize: total * cs, pad: make([]byte, cs)}
	p.tee = w.teeFn(p.fileSize)
	w.pl = p

	h := header{Version: 3, ClusterBits: w.bits, Size: uint64(w.size), L1Size: uint32(nL1),
		L1Offset: uint64(l1At), RefTableOffset: uint64(rtAt), RefTableClusters: uint32(rtClusters),
		RefcountOrder: 4, HeaderLength: headerV3Len}
	hb := make([]byte, cs)
	copy(hb, h.marshal())
	if err := w.putMeta(0, hb); err != nil {
		return err
	}
	for k, i := range l2s {
		w.l1[i] = flagCopied | uint64(l2At+int64(k)*cs)
	}
	if err := w.putMeta(l1At, be64s(w.l1, int(l1Clusters*cs))); err != nil {
		return err
	}
	rt := make([]uint64, nRB)
	for k := range rt {
		rt[k] = uint64(rbAt + int64(k)*cs)
	}
	if err := w.putMeta(rtAt, be64s(rt, int(rtClusters*cs))); err != nil {
		return err
	}
	rb := make([]byte, cs)
	for k := range nRB {
		clear(rb)
		for c := k * w.refPerBlock; c < min(total, (k+1)*w.refPerBlock); c++ {
			binary.BigEndian.PutUint16(rb[2*(c-k*w.refPerBlock):], 1)
		}
		if err := w.putMeta(rbAt+k*cs, rb); err != nil {
			return err
		}
	}
	l2 := make([]uint64, w.l2Entries)
	for k, i := range l2s {
		clear(l2)
		for e := range w.l2Entries {
			if g := i*w.l2Entries + e; a.Has(g) {
				l2[e] = flagCopied | uint64(p.slot(g, cs))
			}
		}
		if err := w.putMeta(l2At+int64(k)*cs, be64s(l2, int(cs))); err != nil {
			return err
		}
	}
	return nil
}

// slot is the file offset of allocated guest cluster g.
func (p *plan) slot(g, cs int64) int64 { return p.dataStart + p.alloc.Rank(g)*cs }

// putMeta writes metadata at off, and through the tee.
func (w *Writer) putMeta(off int64, b []byte) error {
	if _, err := w.t.WriteAt(b, off); err != nil {
		return fmt.Errorf("%s: offset %d: %w", w.t.Name(), off, err)
	}
	w.written += int64(len(b))
	w.pl.follow(b)
	return nil
}

// follow passes the file's next bytes to the tee.
func (p *plan) follow(b []byte) {
	if p.err != nil {
		return
	}
	n, err := p.tee.Write(b)
	p.teeN += int64(n)
	if err != nil {
		p.err = fmt.Errorf("qcow2: tee: %w", err)
	}
}

// writePlanned stores a window's clusters in their planned places; a
// cluster of zeros is left a hole.
func (w *Writer) writePlanned(win *block.Window) error {
	cs := w.clusterSize
	for i, c := range win.Encoded.([]cluster) {
		g := win.Offset/cs + int64(i)
		has := w.pl.alloc.Has(g)
		if c.zero {
			continue
		}
		if !has {
			return fmt.Errorf("qcow2: %s: guest offset %d holds data the source's map did not show", w.t.Name(), g*cs)
		}
		pos := w.pl.slot(g, cs)
		data := win.Data[i*w.cl : min((i+1)*w.cl, len(win.Data))]
		w.emit(pos, data)
		if len(data) < w.cl {
			w.emit(pos+int64(len(data)), w.pl.pad[:w.cl-len(data)])
		}
		if err := w.maybeFlush(); err != nil {
			return err
		}
	}
	return nil
}

// Follow passes the window's allocated clusters to the Tee, in file
// order: their bytes are the guest's (zeros included), as the file holds
// them.
func (w *Writer) Follow(win *block.Window) {
	p := w.pl
	if p == nil {
		return
	}
	cs := w.clusterSize
	for i := 0; i*w.cl < len(win.Data); i++ {
		if !p.alloc.Has(win.Offset/cs + int64(i)) {
			continue
		}
		data := win.Data[i*w.cl : min((i+1)*w.cl, len(win.Data))]
		p.follow(data)
		if len(data) < w.cl {
			p.follow(p.pad[:w.cl-len(data)])
		}
	}
}

// commitPlanned gives the file its planned length (its last clusters may
// be holes).
func (w *Writer) commitPlanned() error {
	if err := w.pendingErr(w.flush()); err != nil {
		return err
	}
	if err := w.t.Truncate(w.pl.fileSize); err != nil {
		return fmt.Errorf("%s: %w", w.t.Name(), err)
	}
	// A tee that failed or saw less than the file is its owner's to notice
	// (it counts what it got against the size it was given): the image
	// itself is complete.
	return w.t.Commit()
}
