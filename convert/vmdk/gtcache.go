package vmdk

import (
	"fmt"

	"github.com/podvm-migrate/podvm-migrate/convert/block"
)

// gtCache keeps an extent's grain tables in memory, read in batches.
//
// A grain table is small (2 to 32 KiB) and covers 2 to 32 MiB of the guest,
// so walking a disk's map reads thousands of them; over a datastore's HTTP
// interface each read is a request and its round trip. Tables that lie one
// after the other in the file (a hosted sparse extent preallocates all of
// them so, an SEsparse extent keeps them in one region) are read together,
// up to gtBatchBytes a read, so a table's neighbours cost nothing more.
// Tables scattered among the grains (vmfsSparse, streamOptimized) are read
// one by one: a batch never reads grain data.
//
// Whole batches are kept until gtCacheBytes are held, then the oldest go,
// so the copy's walk after the allocation map's finds the tables the map
// read, and memory stays bounded on big extents.
type gtCache struct {
	f          *block.File
	offs       []int64 // file offset of each table; 0 for none
	tableBytes int64
	gdOff      int64 // the grain directory's offset, for messages
	entrySize  int64 // bytes of one directory entry, for messages

	tables  map[int64][]byte // table index -> its bytes
	batches [][2]int64       // [first, end) table indexes, oldest first
	held    int64            // bytes in tables
	reads   int64            // reads issued, for tests
}

const (
	// gtBatchBytes bounds one read of adjacent tables.
	gtBatchBytes = 1 << 20
	// gtCacheBytes bounds the tables kept per extent: 8 MiB holds the
	// tables of a 128 GiB hosted sparse extent, or of 512 MiB written in a
	// vmfsSparse delta (whose tables are read one by one). A bigger extent
	// has its tables read twice, in batches still.
	gtCacheBytes = 8 << 20
)

func newGTCache(f *block.File, offs []int64, tableBytes, gdOff, entrySize int64) *gtCache {
	return &gtCache{f: f, offs: offs, tableBytes: tableBytes, gdOff: gdOff, entrySize: entrySize, tables: map[int64][]byte{}}
}

// table returns the bytes of grain table t, whose offset must not be 0.
func (c *gtCache) table(t int64) ([]byte, error) {
	if b, ok := c.tables[t]; ok {
		return b, nil
	}
	end := t + 1
	for end < int64(len(c.offs)) && (end-t+1)*c.tableBytes <= gtBatchBytes &&
		c.offs[end] == c.offs[end-1]+c.tableBytes && c.offs[end]+c.tableBytes <= c.f.Len && c.tables[end] == nil {
		end++
	}
	buf := make([]byte, (end-t)*c.tableBytes)
	c.reads++
	if err := c.f.ReadFull(buf, c.offs[t]); err != nil {
		return nil, fmt.Errorf("grain table %d (directory entry at offset %d): %w", t, c.gdOff+t*c.entrySize, err)
	}
	for i := t; i < end; i++ {
		c.tables[i] = buf[(i-t)*c.tableBytes : (i-t+1)*c.tableBytes : (i-t+1)*c.tableBytes]
	}
	c.batches = append(c.batches, [2]int64{t, end})
	c.held += int64(len(buf))
	for c.held > gtCacheBytes && len(c.batches) > 1 {
		old := c.batches[0]
		c.batches = c.batches[1:]
		for i := old[0]; i < old[1]; i++ {
			delete(c.tables, i)
		}
		c.held -= (old[1] - old[0]) * c.tableBytes
	}
	return c.tables[t], nil
}
