package block

import (
	"context"
	"fmt"
	"math/bits"
)

// Sequential is implemented by an Image that can be walked once only,
// front to back (a stream from an NFC export lease): it cannot be mapped
// ahead of the copy.
type Sequential interface {
	Sequential() bool
}

// IsSequential reports whether img, or an image under it, can be walked
// once only.
func IsSequential(img Image) bool {
	switch i := img.(type) {
	case *Overlay:
		return IsSequential(i.Top) || IsSequential(i.Base)
	case *Restricted:
		return IsSequential(i.Image)
	case Sequential:
		return i.Sequential()
	}
	return false
}

// Planner is a Writer that lays its file out in one ordered pass, metadata
// first, when it is told before the first Write which clusters of the disk
// hold data, so that the file's bytes can be followed (hashed, say) in file
// order while they are written.
type Planner interface {
	Writer
	// PlanCluster is the granule the Writer wants the allocation in (its
	// cluster size), or 0 when it has no use for a plan.
	PlanCluster() int64
	// Plan gives the allocation of the whole disk, before the first Write.
	Plan(ctx context.Context, a *Allocation) error
	// Follow is given every window, in increasing offsets, after Write
	// stored it and while its Data is intact. It may run concurrently with
	// the next window's Write.
	Follow(w *Window)
}

// Allocation is which clusters of a disk hold data: a bit per cluster.
// It is read-only once made, and safe for concurrent readers.
type Allocation struct {
	ClusterSize int64
	Size        int64    // guest bytes
	bits        []uint64 // bit c: cluster c holds data
	ranks       []int64  // clusters with data before word i
	count       int64
}

// MapAllocation walks img's map and marks every cluster that a Data run
// touches; holes and explicit zeros are left out. img must not be
// Sequential. It reads no guest data.
func MapAllocation(ctx context.Context, img Image, clusterSize int64) (*Allocation, error) {
	if clusterSize <= 0 || clusterSize&(clusterSize-1) != 0 {
		return nil, fmt.Errorf("allocation: cluster size %d is not a power of two", clusterSize)
	}
	if IsSequential(img) {
		return nil, fmt.Errorf("allocation: %s can be read only once, front to back", img.Format())
	}
	size := img.Size()
	n := (size + clusterSize - 1) / clusterSize
	a := &Allocation{ClusterSize: clusterSize, Size: size, bits: make([]uint64, (n+63)/64)}
	for off := int64(0); off < size; {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		r, err := img.Map(ctx, off, size-off)
		if err != nil {
			return nil, err
		}
		if r.Length <= 0 || r.Length > size-off {
			return nil, fmt.Errorf("%s: offset %d: bad run length %d", img.Format(), off, r.Length)
		}
		if r.Kind == Data {
			for c := off / clusterSize; c <= (off+r.Length-1)/clusterSize; c++ {
				a.bits[c/64] |= 1 << (c % 64)
			}
		}
		off += r.Length
	}
	a.ranks = make([]int64, len(a.bits))
	for i, w := range a.bits {
		a.ranks[i] = a.count
		a.count += int64(bits.OnesCount64(w))
	}
	return a, nil
}

// Clusters is how many clusters the disk spans.
func (a *Allocation) Clusters() int64 { return (a.Size + a.ClusterSize - 1) / a.ClusterSize }

// Count is how many clusters hold data.
func (a *Allocation) Count() int64 { return a.count }

// Has reports whether cluster c holds data.
func (a *Allocation) Has(c int64) bool {
	return c >= 0 && c/64 < int64(len(a.bits)) && a.bits[c/64]&(1<<(c%64)) != 0
}

// Rank is how many clusters before c hold data: c's place among them.
func (a *Allocation) Rank(c int64) int64 {
	return a.ranks[c/64] + int64(bits.OnesCount64(a.bits[c/64]&(1<<(c%64)-1)))
}

// Any reports whether a cluster in [first, last] holds data.
func (a *Allocation) Any(first, last int64) bool {
	last = min(last, a.Clusters()-1)
	if first > last {
		return false
	}
	return a.Rank(last)-a.Rank(first)+boolInt(a.Has(last)) > 0
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
