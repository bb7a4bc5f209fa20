package migrate

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/podvm-migrate/podvm-migrate/convert"
	"github.com/podvm-migrate/podvm-migrate/convert/qcow2"
	"github.com/podvm-migrate/podvm-migrate/convert/treehash"
	"github.com/podvm-migrate/podvm-migrate/internal/atomicfile"
	"github.com/podvm-migrate/podvm-migrate/internal/filestamp"
	"github.com/podvm-migrate/podvm-migrate/vsphere"
)

// leafTable holds the tree-hash leaf digests (convert/treehash, 1 MiB
// leaves) of one warm disk's target qcow2, kept up to date round by round
// while the source still runs: a leaf a round overwrites whole is hashed
// from the bytes as they are copied, a leaf it writes in part is read back
// and hashed once the round is done. The cutover then hashes only the
// leaves of the final round and folds the tree (runs of zero leaves cost
// one step per level), instead of reading the whole disk again while the
// source is off.
//
// The table is saved beside the disk (leavesPath) with the disk file's
// stamp. A later run trusts it only while the disk still has that stamp;
// it is removed before a round writes the disk, so a run killed in the
// middle of a round leaves no table that could be trusted by mistake.
type leafTable struct {
	size   int64          // guest bytes of the disk
	leaves []treehash.Sum // one per leaf; the zero Sum: the leaf reads as zeros
	dirty  []int64        // leaves written since the last rehash (may repeat)
	// copied[i]: leaf i was hashed from the bytes that overwrote it whole,
	// since the last rehash; rehash need not read it back. nil: none.
	copied []bool
	saved  filestamp.Stamp // the disk's stamp when the table was last saved
}

// newLeafTable is the table of an empty disk of size guest bytes.
func newLeafTable(size int64) *leafTable {
	return &leafTable{size: size, leaves: make([]treehash.Sum, leafCount(size))}
}

func leafCount(size int64) int64 { return (size + treehash.LeafSize - 1) / treehash.LeafSize }

// leafBytes is the length of leaf i of a disk of size bytes (the last may
// be short).
func leafBytes(size, i int64) int {
	return int(min(treehash.LeafSize, size-i*treehash.LeafSize))
}

// touch marks the leaves under areas as changed.
func (t *leafTable) touch(areas []vsphere.Extent) {
	for _, a := range areas {
		if a.Length <= 0 {
			continue
		}
		for i := a.Offset / treehash.LeafSize; i <= (a.Offset+a.Length-1)/treehash.LeafSize && i < int64(len(t.leaves)); i++ {
			t.dirty = append(t.dirty, i)
		}
	}
}

// touchAll marks every leaf as changed: the table is rebuilt from the disk.
func (t *leafTable) touchAll() {
	t.dirty, t.copied = t.dirty[:0], nil
	for i := range int64(len(t.leaves)) {
		t.dirty = append(t.dirty, i)
	}
}

// written hashes the leaves that p, just written at guest offset off,
// covers whole, so that rehash need not read them back; a leaf p covers in
// part must be read back.
func (t *leafTable) written(off int64, p []byte) {
	end := off + int64(len(p))
	if len(p) == 0 || off < 0 || end > t.size {
		return
	}
	if t.copied == nil {
		t.copied = make([]bool, len(t.leaves))
	}
	for i := off / treehash.LeafSize; i <= (end-1)/treehash.LeafSize; i++ {
		lo := i * treehash.LeafSize
		hi := lo + int64(leafBytes(t.size, i))
		if lo < off || hi > end {
			t.copied[i] = false // the rest of it is on the disk
			continue
		}
		b := p[lo-off : hi-off]
		if allZero(b) {
			t.leaves[i] = treehash.Sum{}
		} else {
			t.leaves[i] = treehash.Leaf(b)
		}
		t.copied[i] = true
	}
}

// rehash reads the changed leaves that written did not hash from the
// qcow2 at path and hashes them again, on every core; it returns how many
// changed leaves it read back and how many written had hashed.
func (t *leafTable) rehash(ctx context.Context, path string) (read, copied int, err error) {
	slices.Sort(t.dirty)
	todo := slices.Compact(t.dirty)
	if t.copied != nil {
		n := len(todo)
		todo = slices.DeleteFunc(todo, func(i int64) bool { return t.copied[i] })
		copied, t.copied = n-len(todo), nil
	}
	if len(todo) == 0 {
		t.dirty = todo
		return 0, copied, nil
	}
	workers := min(runtime.GOMAXPROCS(0), len(todo))
	per := (len(todo) + workers - 1) / workers
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		part := todo[min(w*per, len(todo)):min((w+1)*per, len(todo))]
		if len(part) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[w] = t.hashLeaves(ctx, path, part)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return 0, 0, fmt.Errorf("leaf digests of %s: %w", path, err)
	}
	t.dirty = todo[:0]
	return len(todo), copied, nil
}

// hashLeaves hashes leaves (in increasing order) of the qcow2 at path
// through its own reader.
func (t *leafTable) hashLeaves(ctx context.Context, path string, leaves []int64) error {
	img, err := qcow2.Open(path)
	if err != nil {
		return err
	}
	defer img.Close()
	if img.Size() != t.size {
		return fmt.Errorf("the disk is %d bytes, its leaf table %d", img.Size(), t.size)
	}
	buf := make([]byte, treehash.LeafSize)
	for _, i := range leaves {
		if err := ctx.Err(); err != nil {
			return err
		}
		p := buf[:leafBytes(t.size, i)]
		if err := readRange(ctx, img, p, i*treehash.LeafSize); err != nil {
			return fmt.Errorf("leaf %d: %w", i, err)
		}
		if allZero(p) {
			t.leaves[i] = treehash.Sum{}
		} else {
			t.leaves[i] = treehash.Leaf(p)
		}
	}
	return nil
}

var zeroLeaf = make([]byte, treehash.LeafSize)

func allZero(p []byte) bool { return bytes.Equal(p, zeroLeaf[:len(p)]) }

// sum folds the table into the digest convert.Checksum gives for the disk
// ("sha256-tree:hex"); runs of zero leaves cost one step per tree level.
func (t *leafTable) sum() (string, error) {
	if len(t.dirty) != 0 {
		return "", fmt.Errorf("leaf table: %d leaves changed since they were hashed", len(t.dirty))
	}
	var tree treehash.Tree
	n := int64(len(t.leaves))
	for i := int64(0); i < n; {
		if t.leaves[i] != (treehash.Sum{}) {
			tree.Add(t.leaves[i], leafBytes(t.size, i))
			i++
			continue
		}
		j := i + 1
		for j < n && t.leaves[j] == (treehash.Sum{}) {
			j++
		}
		tree.AddZeros(min(j*treehash.LeafSize, t.size) - i*treehash.LeafSize)
		i = j
	}
	h, err := tree.Hex()
	if err != nil {
		return "", fmt.Errorf("leaf table: %w", err)
	}
	return convert.SumTree + ":" + h, nil
}

// leavesPath is where the leaf table of the disk at dst is saved.
func leavesPath(dst string) string { return dst + ".leaves" }

// leavesVersion is the format of a saved leaf table: a JSON header line,
// then 32 bytes per leaf, then the SHA-256 of all that.
const leavesVersion = "podvm-migrate/leaves/v1"

type leavesHeader struct {
	Version  string          `json:"version"`
	LeafSize int64           `json:"leafSize"`
	Size     int64           `json:"size"` // guest bytes
	Disk     filestamp.Stamp `json:"disk"`
}

// save writes the table beside the disk at dst with dst's current stamp,
// unless it was saved with that very stamp already.
func (t *leafTable) save(dst string) error {
	st, err := filestamp.Of(dst)
	if err != nil {
		return fmt.Errorf("leaf table of %s: %w", dst, err)
	}
	if st == t.saved {
		return nil
	}
	hdr, err := json.Marshal(leavesHeader{Version: leavesVersion, LeafSize: treehash.LeafSize, Size: t.size, Disk: st})
	if err != nil {
		return err
	}
	var b bytes.Buffer
	b.Grow(len(hdr) + 1 + len(t.leaves)*sha256.Size + sha256.Size)
	b.Write(hdr)
	b.WriteByte('\n')
	for _, l := range t.leaves {
		b.Write(l[:])
	}
	s := sha256.Sum256(b.Bytes())
	b.Write(s[:])
	if err := atomicfile.WriteFile(leavesPath(dst), b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("leaf table: %w", err)
	}
	t.saved = st
	return nil
}

// forgetLeaves removes the saved table of the disk at dst, before the disk is
// written: until the next save, no saved table may describe it.
func forgetLeaves(dst string) error {
	if err := os.Remove(leavesPath(dst)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("leaf table of %s: %w (remove it by hand)", dst, err)
	}
	return nil
}

// loadLeaves reads the saved table of the disk at dst. It fails when there
// is none, when it is damaged, or when the disk no longer has the stamp it
// was saved with (written, replaced or touched since): the caller then
// reads the disk whole.
func loadLeaves(dst string) (*leafTable, error) {
	raw, err := os.ReadFile(leavesPath(dst))
	if err != nil {
		return nil, err
	}
	if len(raw) < sha256.Size || sha256.Sum256(raw[:len(raw)-sha256.Size]) != treehash.Sum(raw[len(raw)-sha256.Size:]) {
		return nil, fmt.Errorf("%s is damaged", leavesPath(dst))
	}
	raw = raw[:len(raw)-sha256.Size]
	line, rest, ok := bytes.Cut(raw, []byte{'\n'})
	var h leavesHeader
	if !ok || json.Unmarshal(line, &h) != nil || h.Version != leavesVersion || h.LeafSize != treehash.LeafSize || h.Size < 0 {
		return nil, fmt.Errorf("%s: not a %s leaf table", leavesPath(dst), leavesVersion)
	}
	if int64(len(rest)) != leafCount(h.Size)*sha256.Size {
		return nil, fmt.Errorf("%s: %d bytes of leaves for a %d-byte disk", leavesPath(dst), len(rest), h.Size)
	}
	st, err := filestamp.Of(dst)
	if err != nil {
		return nil, err
	}
	if st != h.Disk {
		return nil, fmt.Errorf("%s changed since its leaf table was saved", dst)
	}
	t := &leafTable{size: h.Size, leaves: make([]treehash.Sum, leafCount(h.Size)), saved: st}
	for i := range t.leaves {
		copy(t.leaves[i][:], rest[i*sha256.Size:])
	}
	return t, nil
}

// updateLeaves brings d's leaf table up to date after a precopy round
// wrote the disk (rebuilding it from the whole disk when it is unknown)
// and saves it. A table that cannot be kept is dropped, and the cutover
// reads the disk whole: it returns what happened, for the run record.
func (r *Runner) updateLeaves(ctx context.Context, d *warmDisk) (string, error) {
	rebuilt := ""
	if d.leaves == nil || d.leaves.size != d.capacity {
		why := d.lost
		if why == "" {
			why = fmt.Sprintf("the disk is %d bytes now", d.capacity)
		}
		d.leaves = newLeafTable(d.capacity)
		d.leaves.touchAll()
		rebuilt = " (the whole table, " + why + ")"
	}
	start := time.Now()
	n, copied, err := d.leaves.rehash(ctx, d.dst)
	if err == nil {
		err = d.leaves.save(d.dst)
	}
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		d.leaves, d.lost = nil, err.Error()
		_ = forgetLeaves(d.dst)
		return "no leaf table: " + err.Error(), nil
	}
	d.lost = ""
	return fmt.Sprintf("%d leaves hashed as copied, %d read back and hashed in %.2f s%s", copied, n, time.Since(start).Seconds(), rebuilt), nil
}

// warmChecksum is the digest of d's finished disk: its leaf table with the
// leaves of the final round hashed, or else the disk read whole. It says
// which, for the run record.
func (r *Runner) warmChecksum(ctx context.Context, d *warmDisk) (sum, how string, err error) {
	why := d.lost
	switch _, tree := r.disks.(*DiskPipeline); {
	case !tree:
		// Only DiskPipeline is known to record the tree hash.
		why = "the disks' checksum is not known to be " + convert.SumTree
	case d.leaves == nil:
		if why == "" {
			why = "no leaf table"
		}
	case d.leaves.size != d.capacity:
		why = fmt.Sprintf("the leaf table is of %d bytes, the disk %d", d.leaves.size, d.capacity)
	default:
		start := time.Now()
		n, copied, err := d.leaves.rehash(ctx, d.dst)
		if err == nil {
			sum, err = d.leaves.sum()
		}
		if err == nil {
			return sum, fmt.Sprintf("leaf table of %d leaves: %d hashed as copied, %d read back, folded in %.2f s", len(d.leaves.leaves), copied, n, time.Since(start).Seconds()), nil
		}
		if ctx.Err() != nil {
			return "", "", ctx.Err()
		}
		why = err.Error()
	}
	sum, err = r.disks.Checksum(ctx, d.dst)
	return sum, "whole disk read: " + why, err
}
