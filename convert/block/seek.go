package block

import (
	"errors"
	"syscall"
)

// Linux lseek whence values for sparse files.
const (
	seekData = 3
	seekHole = 4
)

// Segment is a byte range of a file that is all data or all hole.
type Segment struct {
	Start, End int64
	Data       bool
}

// SegmentAt returns the data or hole segment of the file that holds off,
// from SEEK_DATA and SEEK_HOLE. Where the file system cannot tell, the rest
// of the file is one data segment.
func (f *File) SegmentAt(off int64) (Segment, error) {
	if off >= f.Len {
		return Segment{Start: off, End: off}, nil
	}
	if f.os == nil {
		return Segment{Start: off, End: f.Len, Data: true}, nil
	}
	data, err := f.os.Seek(off, seekData)
	if err != nil {
		if errors.Is(err, syscall.ENXIO) { // no data after off
			return Segment{Start: off, End: f.Len}, nil
		}
		return Segment{Start: off, End: f.Len, Data: true}, nil
	}
	if data > off {
		return Segment{Start: off, End: min(data, f.Len)}, nil
	}
	hole, err := f.os.Seek(off, seekHole)
	if err != nil || hole <= off {
		return Segment{Start: off, End: f.Len, Data: true}, nil
	}
	return Segment{Start: off, End: min(hole, f.Len), Data: true}, nil
}
