// Package inflate decompresses whole deflate and zlib buffers (VMDK grains,
// qcow2 clusters). Built with cgo and the libdeflate tag (the Makefile adds
// it when pkg-config finds libdeflate) it calls libdeflate, about twice as
// fast as zlib; otherwise it uses github.com/klauspost/compress.
package inflate

import (
	"errors"
	"fmt"
)

// ErrCorrupt is returned for data that is not a valid stream.
var ErrCorrupt = errors.New("corrupt deflate stream")

// ErrTooLong is returned when the data inflates to more than the output holds.
var ErrTooLong = errors.New("deflate stream inflates to more bytes than expected")

// Exact checks that a stream inflated to exactly want bytes.
func exact(n, want int, err error) error {
	if err != nil {
		return err
	}
	if n != want {
		return fmt.Errorf("%w: it inflates to %d bytes, want %d", ErrCorrupt, n, want)
	}
	return nil
}
