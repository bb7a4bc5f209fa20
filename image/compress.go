package image

import (
	"fmt"
	"io"
	"runtime"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"
	imgspecv1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// Compression is how the image layer is compressed.
type Compression string

// The layer compressions Build offers. None suits a local OCI layout (the
// runtime boots its disks in place); gzip is what every registry client and
// KubeVirt's containerDisk pull read; zstd is smaller and faster where the
// container runtime reads it.
const (
	CompressNone Compression = "none"
	CompressGzip Compression = "gzip"
	CompressZstd Compression = "zstd"
)

// Compressions lists the valid Compression values, for help texts.
var Compressions = []Compression{CompressNone, CompressGzip, CompressZstd}

// ParseCompression checks a --compress value; "" stays "" (the default
// for the destination).
func ParseCompression(s string) (Compression, error) {
	switch c := Compression(strings.ToLower(s)); c {
	case "", CompressNone, CompressGzip, CompressZstd:
		return c, nil
	}
	return "", fmt.Errorf("compression %q: want none, gzip or zstd", s)
}

// DefaultCompression is the compression for a destination when none is
// asked for: none for a local OCI layout, gzip (what KubeVirt pulls) for
// registries and every other transport.
func DefaultCompression(to string) Compression {
	if strings.HasPrefix(to, "oci:") {
		return CompressNone
	}
	return CompressGzip
}

// mediaType is the OCI layer media type of a layer compressed so.
func (c Compression) mediaType() string {
	switch c {
	case CompressGzip:
		return imgspecv1.MediaTypeImageLayerGzip
	case CompressZstd:
		return imgspecv1.MediaTypeImageLayerZstd
	}
	return imgspecv1.MediaTypeImageLayer
}

// compressor wraps w in the compression's encoder, running on all cores.
// Close flushes the encoder, never w.
func (c Compression) compressor(w io.Writer) (io.WriteCloser, error) {
	cores := runtime.GOMAXPROCS(0)
	switch c {
	case CompressGzip:
		gz, err := pgzip.NewWriterLevel(w, pgzip.BestSpeed)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		if err := gz.SetConcurrency(1<<20, 2*cores); err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		return gz, nil
	case CompressZstd:
		zw, err := zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(cores))
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		return zw, nil
	case CompressNone, "":
		return nopCloser{w}, nil
	}
	return nil, fmt.Errorf("compression %q: want none, gzip or zstd", c)
}

// nopCloser is a WriteCloser whose Close does nothing.
type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
