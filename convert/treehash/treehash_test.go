package treehash

import (
	"bytes"
	"crypto/sha256"
	"math/rand/v2"
	"testing"
)

// reference computes the tree hash straight from its definition: hash the
// leaves, then pair the digests level by level until one is left.
func reference(b []byte) Sum {
	if len(b) == 0 {
		return sha256.Sum256(nil)
	}
	var level []Sum
	for off := 0; off < len(b); off += LeafSize {
		level = append(level, sha256.Sum256(b[off:min(off+LeafSize, len(b))]))
	}
	for len(level) > 1 {
		var next []Sum
		for i := 0; i < len(level); i += 2 {
			if i+1 < len(level) {
				next = append(next, combine(level[i], level[i+1]))
			} else {
				next = append(next, level[i])
			}
		}
		level = next
	}
	return level[0]
}

func TestTreeMatchesDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 37*LeafSize+4096)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	for _, n := range []int{0, 1, 512, LeafSize - 1, LeafSize, LeafSize + 1, 2 * LeafSize, 3 * LeafSize,
		5*LeafSize + 100, 7 * LeafSize, 8 * LeafSize, 9 * LeafSize, 16*LeafSize + 512, len(data)} {
		var tr Tree
		tr.AddBytes(data[:n])
		got, err := tr.Sum()
		if err != nil {
			t.Fatal(err)
		}
		if want := reference(data[:n]); got != want {
			t.Errorf("%d bytes: tree %x, definition %x", n, got, want)
		}
		// Up to one leaf, the tree hash is the plain SHA-256.
		if n <= LeafSize && got != sha256.Sum256(data[:n]) {
			t.Errorf("%d bytes: tree %x is not the SHA-256 of one leaf", n, got)
		}
	}
}

// TestZeroRunsMatchLeaves mixes data leaves and zero runs of every length
// at every alignment: AddZeros must give what hashing the zeros gives.
func TestZeroRunsMatchLeaves(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for trial := range 60 {
		var stream []byte
		var tr Tree
		for range 1 + rng.IntN(6) {
			if rng.IntN(2) == 0 {
				leaves := 1 + rng.IntN(3)
				d := make([]byte, leaves*LeafSize)
				for i := range d {
					d[i] = byte(rng.Uint32() | 1)
				}
				tr.AddBytes(d)
				stream = append(stream, d...)
			} else {
				z := int64(1+rng.IntN(19)) * LeafSize
				tr.AddZeros(z)
				stream = append(stream, make([]byte, z)...)
			}
		}
		if trial%3 == 0 { // a short zero tail, as the last window of an odd-sized disk
			tr.AddZeros(4096)
			stream = append(stream, make([]byte, 4096)...)
		}
		got, err := tr.Sum()
		if err != nil {
			t.Fatal(err)
		}
		if want := reference(stream); got != want {
			t.Fatalf("trial %d (%d bytes): tree %x, definition %x", trial, len(stream), got, want)
		}
	}
}

// TestLargeHoleIsCheap checks a 1 TiB hole after a leaf of data against
// adding its zero leaves one by one, and that it folds in few steps.
func TestLargeHoleIsCheap(t *testing.T) {
	zero := Leaf(make([]byte, LeafSize))
	data := bytes.Repeat([]byte{7}, LeafSize)
	for _, leaves := range []int64{1, 2, 3, 1000, 4097} {
		var fast, slow Tree
		fast.Add(Leaf(data), LeafSize)
		slow.Add(Leaf(data), LeafSize)
		fast.AddZeros(leaves * LeafSize)
		for range leaves {
			slow.Add(zero, LeafSize)
		}
		a, _ := fast.Sum()
		b, _ := slow.Sum()
		if a != b {
			t.Errorf("%d zero leaves: AddZeros %x, one by one %x", leaves, a, b)
		}
	}
	var tr Tree
	tr.Add(Leaf(data), LeafSize)
	tr.AddZeros(1 << 40)
	if len(tr.zeros) > 41 || len(tr.stack) > 41 {
		t.Errorf("1 TiB hole: %d zero subtrees, %d stack nodes", len(tr.zeros), len(tr.stack))
	}
	if tr.leaves != 1+1<<20 {
		t.Errorf("1 TiB hole: %d leaves", tr.leaves)
	}
}

func TestLeafAfterShortLeafFails(t *testing.T) {
	var tr Tree
	tr.Add(Leaf([]byte("short")), 5)
	tr.Add(Leaf(make([]byte, LeafSize)), LeafSize)
	if _, err := tr.Sum(); err == nil {
		t.Error("a leaf after a short one was accepted")
	}
	var bad Tree
	bad.Add(Sum{}, LeafSize+1)
	if _, err := bad.Hex(); err == nil {
		t.Error("a leaf longer than LeafSize was accepted")
	}
}

func BenchmarkTree(b *testing.B) {
	data := make([]byte, 64*LeafSize)
	for i := range data {
		data[i] = byte(i*7 + 1)
	}
	b.Run("flat-sha256", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			sha256.Sum256(data)
		}
	})
	b.Run("tree-leaves", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			var tr Tree
			tr.AddBytes(data)
			tr.Sum()
		}
	})
	b.Run("tree-hole", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			var tr Tree
			tr.AddZeros(int64(len(data)))
			tr.Sum()
		}
	})
}
