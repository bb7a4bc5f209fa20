package block

import (
	"errors"
	"io"
	"os"
)

// File is a source file: anything read at offsets (a local file, an HTTP
// resource), with its name and size, for reads that name the file and
// offset when they fail.
type File struct {
	R    io.ReaderAt
	Name string
	Len  int64
	c    io.Closer
	os   *os.File // set for local files: holes can be found
}

// NewFile wraps r, which holds size bytes; c, if not nil, is closed by Close.
func NewFile(name string, r io.ReaderAt, size int64, c io.Closer) *File {
	return &File{R: r, Name: name, Len: size, c: c}
}

// OpenFile opens a local file read-only.
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
	if !st.Mode().IsRegular() && st.Mode()&os.ModeDevice == 0 {
		f.Close()
		return nil, Errorf(path, 0, "not a regular file")
	}
	size := st.Size()
	if st.Mode()&os.ModeDevice != 0 {
		if size, err = f.Seek(0, io.SeekEnd); err != nil {
			f.Close()
			return nil, Wrap(path, 0, err, "size of block device")
		}
	}
	return &File{R: f, Name: path, Len: size, c: f, os: f}, nil
}

// Close closes the underlying file.
func (f *File) Close() error {
	if f.c == nil {
		return nil
	}
	return f.c.Close()
}

// ReadFull reads exactly len(p) bytes at off; a short file is a FormatError.
func (f *File) ReadFull(p []byte, off int64) error {
	if off < 0 || off+int64(len(p)) > f.Len {
		return Errorf(f.Name, off, "truncated: need %d bytes, the file has %d", len(p), f.Len)
	}
	n, err := f.R.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return Errorf(f.Name, off+int64(n), "truncated: need %d bytes, got %d", len(p), n)
	}
	return Wrap(f.Name, off, err, "read")
}
