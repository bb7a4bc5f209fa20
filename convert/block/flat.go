package block

import "context"

// Flat is guest bytes stored as they are in a file, Size bytes from byte
// Base: a raw image, or a flat VMDK extent. Holes in the file read as zeros.
type Flat struct {
	F          *File
	Base, Size int64
	seg        Segment // the last segment looked up, in file offsets
}

// Map maps off (relative to Base) to a data run or, over a hole in the
// file, a zero run.
func (e *Flat) Map(_ context.Context, off, max int64) (Run, error) {
	max = min(max, e.Size-off)
	pos := e.Base + off
	if pos < e.seg.Start || pos >= e.seg.End {
		s, err := e.F.SegmentAt(pos)
		if err != nil {
			return Run{}, err
		}
		e.seg = s
	}
	n := min(max, e.seg.End-pos)
	if !e.seg.Data {
		return Run{Length: n, Kind: Zero}, nil
	}
	f := e.F
	return Run{Length: n, Kind: Data, Stored: n, Read: func(_ context.Context, dst []byte) error {
		return f.ReadFull(dst, pos)
	}}, nil
}

// Close closes the file.
func (e *Flat) Close() error { return e.F.Close() }
