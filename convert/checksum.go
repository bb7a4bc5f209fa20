package convert

import (
	"context"
	"fmt"
	"strings"

	"github.com/podvm-migrate/podvm-migrate/convert/block"
)

// Digests of a disk's guest-visible bytes (what a raw copy of the disk
// holds, holes read as zeros), written "algorithm:hex".
const (
	// SumTree is the SHA-256 tree hash of 1 MiB leaves (convert/treehash,
	// the tree Amazon Glacier defines). Leaves are hashed on every core as
	// the engine reads them, and holes cost nothing, so it keeps up with
	// the copy. It is the default.
	SumTree = "sha256-tree"
	// SumSHA256 is the plain SHA-256, what sha256sum prints for a raw copy.
	// It runs on one core (about 1.8 GB/s here), holes included.
	SumSHA256 = "sha256"
	// SumNone computes nothing.
	SumNone = "none"
)

// CheckChecksum returns an error naming the choices unless algorithm is
// SumTree, SumSHA256 or SumNone.
func CheckChecksum(algorithm string) error {
	switch algorithm {
	case SumTree, SumSHA256, SumNone:
		return nil
	}
	return fmt.Errorf("checksum %q: want %s, %s or %s", algorithm, SumTree, SumSHA256, SumNone)
}

// Checksum returns the digest ("algorithm:hex") of the guest-visible bytes
// of a local disk image, by SumTree when algorithm is "". The files a VMDK
// descriptor names are confined to its folder.
func Checksum(ctx context.Context, path, format, algorithm string, workers int) (string, error) {
	img, err := Open(path, format, PathPolicy{})
	if err != nil {
		return "", err
	}
	defer img.Close()
	st, err := ChecksumImage(ctx, img, CopyOptions{Workers: workers, Checksum: algorithm})
	return st.Checksum, err
}

// ChecksumImage runs the engine over an opened image, storing nothing:
// holes are not read, data is read, inflated and hashed on o.Workers
// goroutines. The stats say what was read.
func ChecksumImage(ctx context.Context, img block.Image, o CopyOptions) (CopyStats, error) {
	if o.Checksum == SumNone {
		return CopyStats{}, fmt.Errorf("checksum: algorithm %q computes nothing", o.Checksum)
	}
	return Copy(ctx, img, discard{}, o)
}

// ChecksumAlgorithm returns the algorithm of a digest "algorithm:hex".
func ChecksumAlgorithm(sum string) string {
	alg, _, _ := strings.Cut(sum, ":")
	return alg
}

// discard is a Writer that stores nothing, for checksums.
type discard struct{}

func (discard) Encode(*block.Window) error                 { return nil }
func (discard) Write(context.Context, *block.Window) error { return nil }
func (discard) Written() int64                             { return 0 }
func (discard) Commit(context.Context) error               { return nil }
func (discard) Abort() error                               { return nil }
