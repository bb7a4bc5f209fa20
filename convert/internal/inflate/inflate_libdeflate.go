//go:build cgo && libdeflate

package inflate

/*
#cgo pkg-config: libdeflate
#include <libdeflate.h>
*/
import "C"

import (
	"runtime"
	"sync"
	"unsafe"
)

// Backend names the implementation in use.
const Backend = "libdeflate"

type decompressor struct {
	d *C.struct_libdeflate_decompressor
}

// Inflater keeps decompressors for reuse; its zero value is ready, and it
// is safe for concurrent use.
type Inflater struct{ pool sync.Pool }

func (f *Inflater) get() *decompressor {
	if d, ok := f.pool.Get().(*decompressor); ok {
		return d
	}
	d := &decompressor{d: C.libdeflate_alloc_decompressor()}
	runtime.SetFinalizer(d, func(d *decompressor) { C.libdeflate_free_decompressor(d.d) })
	return d
}

// Zlib inflates the zlib stream at the start of src into dst, which it
// must fill exactly. Bytes after the stream are ignored.
func (f *Inflater) Zlib(dst, src []byte) error {
	n, err := f.run(dst, src, true)
	return exact(n, len(dst), err)
}

// Raw inflates the raw deflate stream at the start of src into dst, which
// it must fill exactly. Bytes after the stream are ignored.
func (f *Inflater) Raw(dst, src []byte) error {
	n, err := f.run(dst, src, false)
	return exact(n, len(dst), err)
}

func (f *Inflater) run(dst, src []byte, zlib bool) (int, error) {
	if len(src) == 0 {
		return 0, ErrCorrupt
	}
	if len(dst) == 0 {
		return 0, ErrTooLong
	}
	d := f.get()
	defer f.pool.Put(d)
	var in, out C.size_t
	var r C.enum_libdeflate_result
	if zlib {
		r = C.libdeflate_zlib_decompress_ex(d.d, unsafe.Pointer(&src[0]), C.size_t(len(src)),
			unsafe.Pointer(&dst[0]), C.size_t(len(dst)), &in, &out)
	} else {
		r = C.libdeflate_deflate_decompress_ex(d.d, unsafe.Pointer(&src[0]), C.size_t(len(src)),
			unsafe.Pointer(&dst[0]), C.size_t(len(dst)), &in, &out)
	}
	switch r {
	case C.LIBDEFLATE_SUCCESS:
		return int(out), nil
	case C.LIBDEFLATE_INSUFFICIENT_SPACE:
		return int(out), ErrTooLong
	}
	return int(out), ErrCorrupt
}
