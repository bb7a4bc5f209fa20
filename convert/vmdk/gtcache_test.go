package vmdk

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/podvm-migrate/podvm-migrate/convert/block"
)

// countingReader counts the reads and the bytes read from a file.
type countingReader struct {
	r            *bytes.Reader
	reads, bytes int64
}

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	c.reads++
	c.bytes += int64(len(p))
	return c.r.ReadAt(p, off)
}

func TestGrainTableCache(t *testing.T) {
	const tb = 2048 // a hosted sparse grain table
	// file lays out tables at offs (table i holds the value i+1 in each
	// entry) in a file of n bytes.
	file := func(n int64, offs []int64) (*block.File, *countingReader) {
		b := make([]byte, n)
		for i, off := range offs {
			if off == 0 || off+tb > n {
				continue
			}
			for e := int64(0); e < tb; e += 4 {
				binary.LittleEndian.PutUint32(b[off+e:], uint32(i+1))
			}
		}
		cr := &countingReader{r: bytes.NewReader(b)}
		return block.NewFile("disk.vmdk", cr, n, nil), cr
	}
	seq := func(n int, start, gap int64) []int64 {
		offs := make([]int64, n)
		for i := range offs {
			offs[i] = start + int64(i)*(tb+gap)
		}
		return offs
	}
	for _, tc := range []struct {
		name      string
		size      int64
		offs      []int64
		passes    int   // walks over every table
		reads     int64 // reads wanted
		readBytes int64 // bytes wanted
	}{
		// 1024 adjacent tables: two reads of 1 MiB, and the second walk
		// (the copy after the allocation map) reads nothing.
		{"adjacent", 4 << 20, seq(1024, 4096, 0), 2, 2, 1024 * tb},
		// Tables between grains (vmfsSparse, streamOptimized): one read
		// each, never a grain's bytes.
		{"scattered", 4 << 20, seq(64, 4096, 4096), 2, 64, 64 * tb},
		// A missing table reads nothing and splits the run.
		{"holes", 4 << 20, append(append(seq(8, 4096, 0), 0), seq(8, 4096+8*tb, 0)...), 1, 2, 16 * tb},
		// More tables than the cache keeps: the second walk reads again,
		// in batches still.
		{"bigger than the cache", 64 << 20, seq(gtCacheBytes/tb+1024, 4096, 0), 2, 2 * (gtCacheBytes + 1024*tb) / gtBatchBytes, 2 * (gtCacheBytes + 1024*tb)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, cr := file(tc.size, tc.offs)
			c := newGTCache(f, tc.offs, tb, 512, 4)
			for range tc.passes {
				for i, off := range tc.offs {
					if off == 0 {
						continue
					}
					b, err := c.table(int64(i))
					if err != nil {
						t.Fatal(err)
					}
					if len(b) != tb || binary.LittleEndian.Uint32(b) != uint32(i+1) || binary.LittleEndian.Uint32(b[tb-4:]) != uint32(i+1) {
						t.Fatalf("table %d: got the bytes of table %d", i, binary.LittleEndian.Uint32(b)-1)
					}
				}
			}
			if cr.reads != tc.reads || cr.bytes != tc.readBytes {
				t.Errorf("%d reads of %d bytes, want %d of %d", cr.reads, cr.bytes, tc.reads, tc.readBytes)
			}
			if c.held > gtCacheBytes+gtBatchBytes {
				t.Errorf("the cache holds %d bytes, more than its bound", c.held)
			}
		})
	}

	// A table past the end of the file is named in the error; the tables
	// before it are still read in one batch, without it.
	offs := seq(4, 4096, 0)
	f, _ := file(4096+3*tb+100, offs)
	c := newGTCache(f, offs, tb, 512, 4)
	if _, err := c.table(0); err != nil {
		t.Fatalf("tables before a damaged one: %v", err)
	}
	if _, err := c.table(3); err == nil || !strings.Contains(err.Error(), "grain table 3 (directory entry at offset 524)") || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("table past the end: %v", err)
	}
}
