package migrate

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/podvm-migrate/podvm-migrate/convert"
	"github.com/podvm-migrate/podvm-migrate/convert/block"
	"github.com/podvm-migrate/podvm-migrate/convert/qcow2"
	"github.com/podvm-migrate/podvm-migrate/convert/treehash"
	"github.com/podvm-migrate/podvm-migrate/vsphere"
)

// churnRound writes n random 64 KiB-aligned blocks into the qcow2 at path
// as a precopy round does (some all zeros, one over the short last leaf),
// keeping t up to date the way precopyDisk does.
func churnRound(t *testing.T, rng *rand.Rand, path string, lt *leafTable, n int) {
	t.Helper()
	ctx := context.Background()
	if err := forgetLeaves(path); err != nil {
		t.Fatal(err)
	}
	u, err := qcow2.OpenUpdate(path)
	if err != nil {
		t.Fatal(err)
	}
	var areas []vsphere.Extent
	defer func() { lt.touch(areas) }()
	const blk = 64 << 10
	for i := range n {
		off := rng.Int64N((u.Size()+blk-1)/blk) * blk
		length := min(int64(blk*(1+rng.IntN(20))), u.Size()-off) // up to 1.25 MiB: across leaves
		if i == 0 {
			off = max(0, u.Size()-5000) // the short last leaf
			length = u.Size() - off
		}
		p := make([]byte, length)
		if i%4 != 1 { // every fourth block writes zeros over what was there
			for k := range p {
				p[k] = byte(rng.Uint32())
			}
		}
		if err := u.WriteAt(ctx, p, off); err != nil {
			t.Fatal(err)
		}
		lt.written(off, p) // as copyAreas does; the rest is read back
		areas = append(areas, vsphere.Extent{Offset: off, Length: length})
	}
	if err := u.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

func diskSum(t *testing.T, path string) string {
	t.Helper()
	sum, err := convert.Checksum(context.Background(), path, convert.FormatQCOW2, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

// TestLeafTableMatchesChecksum keeps a leaf table through rounds of churn
// on a disk with holes and a short last leaf, saves it, loads it as a
// resumed run would, and checks its digest against convert.Checksum of the
// disk each time; a disk changed behind the table's back is refused.
func TestLeafTableMatchesChecksum(t *testing.T) {
	ctx := context.Background()
	for _, size := range []int64{0, 4096, 3*treehash.LeafSize + 12345, 70 * treehash.LeafSize} {
		t.Run(fmt.Sprintf("%d bytes", size), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "disk0.qcow2")
			w, err := qcow2.Create(path, size, qcow2.WriterOptions{TargetOptions: block.TargetOptions{Overwrite: true}})
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			lt := newLeafTable(size)
			rng := rand.New(rand.NewPCG(uint64(size), 7))
			reads, copies := 0, 0
			for round := range 4 {
				if size > 0 {
					churnRound(t, rng, path, lt, 3+round*5)
				}
				read, copied, err := lt.rehash(ctx, path)
				if err != nil {
					t.Fatal(err)
				}
				reads, copies = reads+read, copies+copied
				got, err := lt.sum()
				if want := diskSum(t, path); err != nil || got != want {
					t.Fatalf("round %d: leaf table %s, %v; convert.Checksum %s", round+1, got, err, want)
				}
				if err := lt.save(path); err != nil {
					t.Fatal(err)
				}
			}
			if size > 2*treehash.LeafSize && (reads == 0 || copies == 0) {
				t.Errorf("%d leaves read back, %d hashed as written: want both ways taken", reads, copies)
			}
			// A resumed run loads the table and goes on with it.
			loaded, err := loadLeaves(path)
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			if size > 0 {
				churnRound(t, rng, path, loaded, 4)
			}
			if _, _, err := loaded.rehash(ctx, path); err != nil {
				t.Fatalf("rehash after load: %v", err)
			}
			got, err := loaded.sum()
			if want := diskSum(t, path); err != nil || got != want {
				t.Fatalf("after a resume: leaf table %s, %v; convert.Checksum %s", got, err, want)
			}
		})
	}
}

// TestLeafTableRefusesChangedDisk: a saved table is trusted only while
// the disk has the stamp it was saved with.
func TestLeafTableRefusesChangedDisk(t *testing.T) {
	ctx := context.Background()
	const size = 8 * treehash.LeafSize
	cases := []struct {
		name   string
		change func(t *testing.T, path string)
		stale  bool // the old table's digest is wrong for the disk now
	}{
		{name: "written", stale: true, change: func(t *testing.T, path string) {
			u, err := qcow2.OpenUpdate(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := u.WriteAt(ctx, []byte("written behind the table's back"), 6*treehash.LeafSize+7); err != nil {
				t.Fatal(err)
			}
			if err := u.Close(ctx); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "touched", change: func(t *testing.T, path string) {
			if err := os.Chtimes(path, time.Now(), time.Now().Add(-time.Minute)); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "replaced", stale: true, change: func(t *testing.T, path string) {
			w, err := qcow2.Create(path, size, qcow2.WriterOptions{TargetOptions: block.TargetOptions{Overwrite: true}})
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Commit(ctx); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "table damaged", change: func(t *testing.T, path string) {
			b, err := os.ReadFile(leavesPath(path))
			if err != nil {
				t.Fatal(err)
			}
			b[len(b)/2] ^= 1
			if err := os.WriteFile(leavesPath(path), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "table gone", change: func(t *testing.T, path string) {
			if err := forgetLeaves(path); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "disk0.qcow2")
			w, err := qcow2.Create(path, size, qcow2.WriterOptions{TargetOptions: block.TargetOptions{Overwrite: true}})
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			lt := newLeafTable(size)
			churnRound(t, rand.New(rand.NewPCG(1, 2)), path, lt, 6)
			if _, _, err := lt.rehash(ctx, path); err != nil {
				t.Fatal(err)
			}
			// File times tick coarsely (a clock tick, not a nanosecond):
			// backdate the disk so that a change right after shows.
			back := time.Now().Add(-time.Hour)
			if err := os.Chtimes(path, back, back); err != nil {
				t.Fatal(err)
			}
			if err := lt.save(path); err != nil {
				t.Fatal(err)
			}
			if _, err := loadLeaves(path); err != nil {
				t.Fatalf("the unchanged disk's table: %v", err)
			}
			old, _ := lt.sum()
			c.change(t, path)
			if _, err := loadLeaves(path); err == nil {
				t.Errorf("the table of a disk %s was loaded", c.name)
			}
			if now := diskSum(t, path); c.stale && now == old {
				t.Errorf("the change left the disk's digest at %s: the case tests nothing", old)
			}
		})
	}
}
