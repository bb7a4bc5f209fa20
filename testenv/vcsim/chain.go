package vcsim

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/vmware/govmomi/vim25/types"
)

// cbtBlock is the granularity of changed block tracking: changed and
// allocated areas are whole 64 KiB blocks, as the churn writes them.
const cbtBlock = 64 << 10

// trackedDisk is one virtual disk of a VM as the CBT double sees it: its
// chain of files (base first, the file the VM writes last) and its change
// tracking state.
type trackedDisk struct {
	mu       sync.Mutex
	key      int32
	capacity int64
	chain    []*chainFile

	// Change tracking: changeId uuid/seq names the disk as it was at the
	// seq-th stun since tracking began; epochs[k] holds the blocks written
	// between stun k and stun k+1, open the blocks written since the last.
	uuid   string // "" while tracking is off
	seq    int
	epochs map[int]map[int64]struct{}
	open   map[int64]struct{}
	broken error   // a write failed; the disk is no longer churned
	free   []int64 // the blocks the churn writes: those that held no data when it began
}

// chainFile is one file of a chain.
type chainFile struct {
	dsPath string // "[datastore1] vm/vm-000001.vmdk"
	local  string
	l      layer
	rw     bool
	// For a delta: the snapshot that froze its parent, and the changeId
	// the disk had at that snapshot.
	snap     string
	snapUUID string
	snapSeq  int
}

func (d *trackedDisk) changeID() string {
	if d.uuid == "" {
		return ""
	}
	return fmt.Sprintf("%s/%d", d.uuid, d.seq)
}

// layer opens file i of the chain, for writing when rw. A base file is
// given its own inode before its first write.
func (d *trackedDisk) layer(i int, rw bool) (layer, error) {
	c := d.chain[i]
	if c.l != nil && (c.rw || !rw) {
		return c.l, nil
	}
	if c.l != nil {
		c.l.close()
		c.l = nil
	}
	if rw && i == 0 {
		if err := ownCopy(c.local); err != nil {
			return nil, err
		}
	}
	l, err := openLayer(c.local, rw)
	if err != nil {
		return nil, err
	}
	c.l, c.rw = l, rw
	return l, nil
}

// read reads guest bytes at off through the first n files of the chain.
func (d *trackedDisk) read(n int, p []byte, off int64) error {
	for len(p) > 0 {
		step := int64(len(p))
		found := false
		for i := n - 1; i >= 0; i-- {
			l, err := d.layer(i, false)
			if err != nil {
				return err
			}
			fo, run, ok, err := l.lookup(off)
			if err != nil {
				return err
			}
			step = min(step, run)
			if ok {
				if err := l.readAt(p[:step], fo); err != nil {
					return err
				}
				found = true
				break
			}
		}
		if !found {
			clear(p[:step])
		}
		p, off = p[step:], off+step
	}
	return nil
}

// write writes p at guest offset off into file n-1 of the chain, the
// files below it supplying the rest of any grain it allocates.
func (d *trackedDisk) write(n int, p []byte, off int64) error {
	if off < 0 || off+int64(len(p)) > d.capacity {
		return fmt.Errorf("write of %d bytes at %d: outside the disk (%d bytes)", len(p), off, d.capacity)
	}
	l, err := d.layer(n-1, true)
	if err != nil {
		return err
	}
	below := func(b []byte, o int64) error { return d.read(n-1, b, o) }
	for len(p) > 0 {
		_, run, _, err := l.lookup(off)
		if err != nil {
			return err
		}
		step := min(int64(len(p)), run)
		if err := l.write(p[:step], off, below); err != nil {
			return err
		}
		p, off = p[step:], off+step
	}
	return nil
}

// guestWrite is a write of the running guest: into the top of the chain,
// recorded for change tracking.
func (d *trackedDisk) guestWrite(p []byte, off int64) error {
	if err := d.write(len(d.chain), p, off); err != nil {
		return err
	}
	if d.uuid != "" {
		for b := off / cbtBlock; b*cbtBlock < off+int64(len(p)); b++ {
			d.open[b] = struct{}{}
		}
	}
	return nil
}

// stun is what a snapshot, its removal or a power cycle does to change
// tracking: the current epoch closes and the changeId advances; tracking
// starts at the first stun after it was enabled.
func (d *trackedDisk) stun(cbtOn bool) {
	switch {
	case !cbtOn:
		d.reset(false)
	case d.uuid == "":
		d.reset(true)
	default:
		d.epochs[d.seq] = d.open
		d.open = map[int64]struct{}{}
		d.seq++
	}
}

// reset forgets every changeId; with on, tracking starts again under a
// new uuid.
func (d *trackedDisk) reset(on bool) {
	d.uuid, d.seq, d.epochs, d.open = "", 0, nil, nil
	if on {
		d.uuid, d.seq, d.epochs, d.open = newCBTUUID(), 1, map[int]map[int64]struct{}{}, map[int64]struct{}{}
	}
}

// newCBTUUID returns a uuid as ESXi writes it in changeIds:
// "52 1f 2e 3d 4c 5b 6a 79-88 97 a6 b5 c4 d3 e2 f1".
func newCBTUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[0] = 0x52
	var s strings.Builder
	for i, c := range b {
		switch {
		case i == 8:
			s.WriteByte('-')
		case i > 0:
			s.WriteByte(' ')
		}
		fmt.Fprintf(&s, "%02x", c)
	}
	return s.String()
}

// snapshot freezes the top of the chain: a new delta file next to it
// becomes the file the VM writes. It returns the new chain file.
func (d *trackedDisk) snapshot(cbtOn bool) (*chainFile, error) {
	top := d.chain[len(d.chain)-1]
	tl, err := d.layer(len(d.chain)-1, false)
	if err != nil {
		return nil, err
	}
	dir, file := path.Split(top.dsPath)
	stem := strings.TrimSuffix(file, ".vmdk")
	if i := strings.LastIndex(stem, "-"); i > 0 && len(stem)-i == 7 && strings.Trim(stem[i+1:], "0123456789") == "" {
		stem = stem[:i]
	}
	for n := 1; n < 1000; n++ {
		name := fmt.Sprintf("%s-%06d.vmdk", stem, n)
		local := filepath.Join(filepath.Dir(top.local), name)
		if _, err := os.Lstat(local); err == nil {
			continue
		}
		l, err := createDelta(local, d.capacity, path.Base(top.local), tl.cid())
		if err != nil {
			return nil, err
		}
		d.stun(cbtOn)
		c := &chainFile{dsPath: dir + name, local: local, l: l, rw: true, snapUUID: d.uuid, snapSeq: d.seq}
		d.chain = append(d.chain, c)
		return c, nil
	}
	return nil, fmt.Errorf("%s: no free delta file name", top.dsPath)
}

// consolidate merges delta i into its parent (the snapshot that created
// it is removed): the grains it holds are written into file i-1, the
// file above it (if any) gets i-1 as its parent, and the delta is deleted.
func (d *trackedDisk) consolidate(i int) error {
	if i <= 0 || i >= len(d.chain) {
		return fmt.Errorf("no delta %d in a chain of %d files", i, len(d.chain))
	}
	dl, err := d.layer(i, false)
	if err != nil {
		return err
	}
	type run struct{ off, n int64 }
	var runs []run
	if err := dl.allocated(func(off, n int64) { runs = append(runs, run{off, n}) }); err != nil {
		return err
	}
	buf := make([]byte, deltaGrain)
	for _, r := range runs {
		for off := r.off; off < r.off+r.n; off += int64(len(buf)) {
			b := buf[:min(int64(len(buf)), r.off+r.n-off)]
			if err := d.read(i+1, b, off); err != nil {
				return err
			}
			if err := d.write(i, b, off); err != nil {
				return err
			}
		}
	}
	gone := d.chain[i]
	d.chain = append(d.chain[:i], d.chain[i+1:]...)
	if i < len(d.chain) {
		pl, err := d.layer(i-1, false)
		if err != nil {
			return err
		}
		child, err := d.layer(i, true)
		if err != nil {
			return err
		}
		sl, ok := child.(*sparseLayer)
		if !ok {
			return fmt.Errorf("%s: a delta that is not a hosted sparse file", d.chain[i].local)
		}
		if err := sl.setParent(path.Base(d.chain[i-1].local), pl.cid()); err != nil {
			return err
		}
	}
	gone.l.close()
	return os.Remove(gone.local)
}

// areas returns the blocks that changed since changeId seq up to
// snapshot seq to, or with all the blocks the first n files hold.
func (d *trackedDisk) changed(from, to int) []int64 {
	set := map[int64]struct{}{}
	for k := from; k < to; k++ {
		for b := range d.epochs[k] {
			set[b] = struct{}{}
		}
	}
	return sortedBlocks(set)
}

func (d *trackedDisk) allocated(n int) ([]int64, error) {
	set := map[int64]struct{}{}
	for i := 0; i < n; i++ {
		l, err := d.layer(i, false)
		if err != nil {
			return nil, err
		}
		if err := l.allocated(func(off, m int64) {
			for b := off / cbtBlock; b*cbtBlock < off+m; b++ {
				set[b] = struct{}{}
			}
		}); err != nil {
			return nil, err
		}
	}
	return sortedBlocks(set), nil
}

func sortedBlocks(set map[int64]struct{}) []int64 {
	out := make([]int64, 0, len(set))
	for b := range set {
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// extents turns sorted blocks into the areas of an answer that starts at
// start: at most page areas, the answer's length reaching to the end of
// the last area when the page is full, else to the end of the disk.
func extents(blocks []int64, start, capacity int64, page int) types.DiskChangeInfo {
	info := types.DiskChangeInfo{StartOffset: start, Length: capacity - start}
	for _, b := range blocks {
		s, e := max(b*cbtBlock, start), min((b+1)*cbtBlock, capacity)
		if e <= s {
			continue
		}
		if n := len(info.ChangedArea); n > 0 {
			last := &info.ChangedArea[n-1]
			if last.Start+last.Length == s {
				last.Length += e - s
				continue
			}
		}
		if len(info.ChangedArea) == page {
			last := info.ChangedArea[page-1]
			info.Length = last.Start + last.Length - start
			break
		}
		info.ChangedArea = append(info.ChangedArea, types.DiskChangeExtent{Start: s, Length: e - s})
	}
	return info
}

func (d *trackedDisk) closeFiles() error {
	var errs []error
	for _, c := range d.chain {
		if c.l != nil {
			errs = append(errs, c.l.close())
			c.l = nil
		}
	}
	return errors.Join(errs...)
}

// grow extends a disk without snapshots to size bytes: a flat disk's
// extent and descriptor grow; a hosted sparse file cannot (its grain
// directory is sized at creation).
func (d *trackedDisk) grow(size int64) error {
	if len(d.chain) != 1 {
		return fmt.Errorf("the disk has snapshots")
	}
	l, err := d.layer(0, true)
	if err != nil {
		return err
	}
	fl, ok := l.(*flatLayer)
	if !ok {
		return errGrowSparse
	}
	if err := fl.f.Truncate(size); err != nil {
		return err
	}
	text, err := os.ReadFile(fl.local)
	if err != nil {
		return err
	}
	m := extentRE.FindSubmatchIndex(text)
	if m == nil {
		return fmt.Errorf("%s: no extent line", fl.local)
	}
	out := append([]byte{}, text[:m[4]]...)
	out = append(out, fmt.Sprint((size+511)/512)...)
	out = append(out, text[m[5]:]...)
	if err := os.WriteFile(fl.local, out, 0o644); err != nil {
		return err
	}
	fl.capacity, d.capacity = size, size
	return nil
}
