package block

import (
	"errors"
	"io"
	"os"
)

// File is an open file that knows its name and size, for reads that name
// the file and offset when they fail.
type File struct {
	*os.File
	Name string
	Len  int64
}

// OpenFile opens path read-only.
func OpenFile(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &File{File: f, Name: path, Len: st.Size()}, nil
}

// ReadFull reads exactly len(p) bytes at off; a short file is a FormatError.
func (f *File) ReadFull(p []byte, off int64) error {
	if off < 0 || off+int64(len(p)) > f.Len {
		return Errorf(f.Name, off, "truncated: need %d bytes, the file has %d", len(p), f.Len)
	}
	n, err := f.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return Errorf(f.Name, off+int64(n), "truncated: need %d bytes, got %d", len(p), n)
	}
	return Wrap(f.Name, off, err, "read")
}
