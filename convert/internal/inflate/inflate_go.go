//go:build !(cgo && libdeflate)

package inflate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/zlib"
)

// Backend names the implementation in use.
const Backend = "klauspost/compress"

// Inflater keeps decompressors for reuse; its zero value is ready, and it
// is safe for concurrent use.
type Inflater struct {
	zpool sync.Pool // zlib readers
	fpool sync.Pool // flate readers
}

// Zlib inflates the zlib stream at the start of src into dst, which it
// must fill exactly. Bytes after the stream are ignored.
func (f *Inflater) Zlib(dst, src []byte) error {
	n, err := f.zlibInflate(dst, src)
	return exact(n, len(dst), err)
}

func (f *Inflater) zlibInflate(dst, src []byte) (int, error) {
	r := bytes.NewReader(src)
	zr, _ := f.zpool.Get().(io.ReadCloser)
	var err error
	if zr == nil {
		zr, err = zlib.NewReader(r)
	} else {
		err = zr.(zlib.Resetter).Reset(r, nil)
	}
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	n, err := drain(zr, dst)
	if err == nil {
		f.zpool.Put(zr)
	}
	return n, err
}

// Raw inflates the raw deflate stream at the start of src into dst, which
// it must fill exactly. Bytes after the stream are ignored.
func (f *Inflater) Raw(dst, src []byte) error {
	n, err := f.rawInflate(dst, src)
	return exact(n, len(dst), err)
}

func (f *Inflater) rawInflate(dst, src []byte) (int, error) {
	r := bytes.NewReader(src)
	fr, _ := f.fpool.Get().(io.ReadCloser)
	if fr == nil {
		fr = flate.NewReader(r)
	} else if err := fr.(flate.Resetter).Reset(r, nil); err != nil {
		return 0, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	n, err := drain(fr, dst)
	if err == nil {
		f.fpool.Put(fr)
	}
	return n, err
}

// drain reads the whole stream into dst: it must end within dst.
func drain(r io.Reader, dst []byte) (int, error) {
	n, err := io.ReadFull(r, dst)
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return n, nil
	case err != nil:
		return n, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	// dst is full: the stream must end here.
	var one [1]byte
	if m, err := r.Read(one[:]); m > 0 {
		return n, ErrTooLong
	} else if err != nil && !errors.Is(err, io.EOF) {
		return n, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return n, nil
}
