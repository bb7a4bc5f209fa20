package vmdk

import (
	"context"
	"encoding/binary"

	"github.com/podvm-migrate/podvm-migrate/convert/block"
)

// grainRef is what one grain table entry says about its grain: its kind and,
// for data, the byte offset of the grain in the extent file.
type grainRef struct {
	kind block.Kind
	pos  int64
}

// tableExtent is the reading side that the two ESX snapshot formats share
// (vmfsSparse and SEsparse): a grain directory of grain tables whose entries
// say, grain by grain, whether it is unallocated (the parent shows through),
// zero, or stored at some offset of the file. Only the encoding of the
// entries differs; decode turns one into a grainRef.
type tableExtent struct {
	f         *block.File
	size      int64   // guest bytes the extent covers
	grain     int64   // bytes
	gtEntries int64   // entries per grain table
	entrySize int64   // bytes per grain table entry: 4 or 8
	gt        []int64 // byte offset of each grain table in the file; 0 for none
	gdOff     int64   // byte offset of the grain directory, for messages
	// decode reads grain table entry v of guest grain g; where is the
	// entry's offset in the file, for errors.
	decode func(v uint64, g, where int64) (grainRef, error)

	gts *gtCache // made by checkTables
}

// checkTables checks that the grain directory covers the extent and that
// every grain table it names lies inside the file.
func (e *tableExtent) checkTables() error {
	if cover := e.grain * e.gtEntries; int64(len(e.gt)) < (e.size+cover-1)/cover {
		return block.Errorf(e.f.Name, e.gdOff, "grain directory of %d entries covers %d bytes, the extent holds %d", len(e.gt), int64(len(e.gt))*cover, e.size)
	}
	tableBytes := e.gtEntries * e.entrySize
	for i, off := range e.gt {
		if off != 0 && (off < 0 || off > e.f.Len-tableBytes) {
			return block.Errorf(e.f.Name, e.gdOff+int64(i)*e.entrySize, "grain directory entry %d points to a grain table at offset %d, past the end of the file (%d bytes)", i, off, e.f.Len)
		}
	}
	e.gts = newGTCache(e.f, e.gt, tableBytes, e.gdOff, e.entrySize)
	return nil
}

// lookup returns what the grain table says about guest grain g.
func (e *tableExtent) lookup(g int64) (grainRef, error) {
	t := g / e.gtEntries
	if t >= int64(len(e.gt)) {
		return grainRef{}, block.Errorf(e.f.Name, e.gdOff, "grain %d is past the grain directory", g)
	}
	if e.gt[t] == 0 {
		return grainRef{kind: block.Hole}, nil
	}
	buf, err := e.gts.table(t)
	if err != nil {
		return grainRef{}, err
	}
	i := g % e.gtEntries
	where := e.gt[t] + i*e.entrySize
	var v uint64
	if e.entrySize == 4 {
		v = uint64(binary.LittleEndian.Uint32(buf[i*4:]))
	} else {
		v = binary.LittleEndian.Uint64(buf[i*8:])
	}
	r, err := e.decode(v, g, where)
	if err != nil || r.kind != block.Data {
		return r, err
	}
	// The last grain of an extent may be cut short by its end.
	need := min(e.grain, e.size-g*e.grain)
	if r.pos < 0 || r.pos > e.f.Len-need {
		return r, block.Errorf(e.f.Name, where, "grain table entry for grain %d points to offset %d, past the end of the file (%d bytes)", g, r.pos, e.f.Len)
	}
	return r, nil
}

// Map maps guest offset off (relative to the extent) to a run of at most max
// bytes: grains of one kind, and data grains stored one after the other.
func (e *tableExtent) Map(_ context.Context, off, max int64) (block.Run, error) {
	max = min(max, e.size-off)
	first, err := e.lookup(off / e.grain)
	if err != nil {
		return block.Run{}, err
	}
	within := off % e.grain
	n := min(e.grain-within, max)
	cover := e.grain * e.gtEntries
	for n < max {
		g := (off + n) / e.grain
		if t := g / e.gtEntries; first.kind == block.Hole && t < int64(len(e.gt)) && e.gt[t] == 0 {
			n = min((t+1)*cover-off, max) // a whole missing grain table
			continue
		}
		next, err := e.lookup(g)
		if err != nil {
			return block.Run{}, err
		}
		if next.kind != first.kind || (first.kind == block.Data && next.pos != first.pos+within+n) {
			break
		}
		n = min(n+e.grain, max)
	}
	if first.kind != block.Data {
		return block.Run{Length: n, Kind: first.kind}, nil
	}
	f, pos := e.f, first.pos+within
	return block.Run{Length: n, Kind: block.Data, Stored: n, Read: func(_ context.Context, dst []byte) error {
		return f.ReadFull(dst, pos)
	}}, nil
}

// Close closes the extent file.
func (e *tableExtent) Close() error { return e.f.Close() }

func (e *tableExtent) file() *block.File { return e.f }
