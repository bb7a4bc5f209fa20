package block

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
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

// ErrNotRegular is returned by OpenRegular for a device node, FIFO, socket
// or directory.
var ErrNotRegular = errors.New("not a regular file")

// OpenRegular opens a local regular file read-only, for names that came
// from inside a file (a descriptor's extents): a device node, FIFO, socket
// or directory is refused with ErrNotRegular before it is opened, and a
// symlink in the last element is not followed. The file is stat'ed again
// once open, so one swapped in between is refused too.
func OpenRegular(path string) (*File, error) {
	st, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, notRegular(path, st.Mode())
	}
	// O_NONBLOCK: a FIFO swapped in after the Lstat does not block the open.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	fst, err := f.Stat()
	switch {
	case err != nil:
	case !fst.Mode().IsRegular():
		err = notRegular(path, fst.Mode())
	case !os.SameFile(st, fst):
		err = &os.PathError{Op: "open", Path: path, Err: errors.New("replaced while it was being opened")}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return &File{R: f, Name: path, Len: fst.Size(), c: f, os: f}, nil
}

func notRegular(path string, m os.FileMode) error {
	what := "a special file"
	switch {
	case m&os.ModeDevice != 0 && m&os.ModeCharDevice != 0:
		what = "a character device"
	case m&os.ModeDevice != 0:
		what = "a block device"
	case m&os.ModeNamedPipe != 0:
		what = "a FIFO"
	case m&os.ModeSocket != 0:
		what = "a socket"
	case m.IsDir():
		what = "a directory"
	case m&os.ModeSymlink != 0:
		what = "a symlink"
	}
	return &os.PathError{Op: "open", Path: path, Err: fmt.Errorf("%w: %s", ErrNotRegular, what)}
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
