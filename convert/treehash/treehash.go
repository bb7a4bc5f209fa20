// Package treehash computes the SHA-256 tree hash of a byte stream: the
// SHA-256 of each 1 MiB leaf (the last may be shorter), combined pairwise,
// level by level, with SHA-256(left || right); an odd node at the end of a
// level moves up unchanged. It is the tree hash Amazon Glacier defines, so
// tools outside this project can check it.
//
// Unlike a flat SHA-256, the leaves can be hashed on any number of cores,
// and a run of zero leaves costs one step per tree level, not a hash of the
// zeros: a disk's holes are free.
package treehash

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/bits"
)

// LeafSize is the number of bytes under each leaf.
const LeafSize = 1 << 20

// Sum is a SHA-256 digest.
type Sum = [sha256.Size]byte

// Leaf returns the digest of one leaf: b holds LeafSize bytes, or fewer for
// the last leaf of a stream.
func Leaf(b []byte) Sum { return sha256.Sum256(b) }

// node is a subtree on the stack: its digest and its height (0 for a leaf).
type node struct {
	sum    Sum
	height int
}

// Tree adds leaves in stream order and folds complete subtrees as it goes,
// so it holds at most one node per level. The zero value is an empty tree.
type Tree struct {
	stack  []node
	leaves int64
	short  bool  // a leaf shorter than LeafSize was added: it must be the last
	zeros  []Sum // zeros[h]: the root of 2^h zero leaves
	failed error
}

func combine(a, b Sum) Sum {
	var buf [2 * sha256.Size]byte
	copy(buf[:], a[:])
	copy(buf[sha256.Size:], b[:])
	return sha256.Sum256(buf[:])
}

// push adds a complete subtree of height h; Tree.leaves must be a multiple
// of 2^h, so it closes every subtree of the same height to its left.
func (t *Tree) push(s Sum, h int) {
	for n := len(t.stack); n > 0 && t.stack[n-1].height == h; n = len(t.stack) {
		s = combine(t.stack[n-1].sum, s)
		t.stack = t.stack[:n-1]
		h++
	}
	t.stack = append(t.stack, node{s, h})
}

// Add adds the digest of the next leaf, of n bytes (1 to LeafSize).
func (t *Tree) Add(s Sum, n int) {
	if t.failed != nil {
		return
	}
	if t.short {
		t.failed = fmt.Errorf("treehash: leaf %d follows a short leaf", t.leaves)
		return
	}
	if n <= 0 || n > LeafSize {
		t.failed = fmt.Errorf("treehash: leaf %d has %d bytes", t.leaves, n)
		return
	}
	t.short = n < LeafSize
	t.push(s, 0)
	t.leaves++
}

// AddBytes hashes b and adds it as the next leaves: b starts on a leaf
// boundary, and only its last leaf may be short.
func (t *Tree) AddBytes(b []byte) {
	for off := 0; off < len(b); off += LeafSize {
		leaf := b[off:min(off+LeafSize, len(b))]
		t.Add(Leaf(leaf), len(leaf))
	}
}

// AddZeros adds n zero bytes, which must start on a leaf boundary. Whole
// zero leaves are added as the largest zero subtrees that fit, so a 1 TiB
// hole costs a few dozen steps.
func (t *Tree) AddZeros(n int64) {
	for n >= LeafSize && t.failed == nil && !t.short {
		left := n / LeafSize
		// the largest 2^h leaves that both fit and keep the tree aligned
		h := bits.Len64(uint64(left)) - 1
		if t.leaves != 0 {
			h = min(h, bits.TrailingZeros64(uint64(t.leaves)))
		}
		t.push(t.zeroRoot(h), h)
		t.leaves += 1 << h
		n -= LeafSize << h
	}
	if n > 0 {
		t.Add(Leaf(make([]byte, n)), int(n))
	}
}

// zeroRoot returns the root of 2^h zero leaves.
func (t *Tree) zeroRoot(h int) Sum {
	if len(t.zeros) == 0 {
		t.zeros = append(t.zeros, Leaf(make([]byte, LeafSize)))
	}
	for len(t.zeros) <= h {
		z := t.zeros[len(t.zeros)-1]
		t.zeros = append(t.zeros, combine(z, z))
	}
	return t.zeros[h]
}

// Sum returns the root digest. A tree with no leaves is the digest of an
// empty stream: SHA-256 of nothing.
func (t *Tree) Sum() (Sum, error) {
	if t.failed != nil {
		return Sum{}, t.failed
	}
	if len(t.stack) == 0 {
		return sha256.Sum256(nil), nil
	}
	// Fold from the right: an unpaired node moves up unchanged until it
	// meets the larger subtree on its left, which is how the level-by-level
	// definition pairs it.
	s := t.stack[len(t.stack)-1].sum
	for i := len(t.stack) - 2; i >= 0; i-- {
		s = combine(t.stack[i].sum, s)
	}
	return s, nil
}

// Hex is Sum in lower-case hexadecimal.
func (t *Tree) Hex() (string, error) {
	s, err := t.Sum()
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(s[:]), nil
}
