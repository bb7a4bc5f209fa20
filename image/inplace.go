package image

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sync/errgroup"

	imgspecv1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// ErrNotInPlace is returned by OpenLocalLayer for an image whose disks
// cannot be used where they lie: a registry image, or a compressed layer.
var ErrNotInPlace = errors.New("the image's disks cannot be used in place (not an uncompressed layer in a local OCI layout)")

// Extent is where a file of an uncompressed layer lies in the layer blob.
type Extent struct {
	Offset int64 `json:"offset"`
	Size   int64 `json:"size"`
}

// LocalLayer is the uncompressed layer of an image in a local OCI layout:
// the blob file and where each regular file of the tar lies in it, so a
// runtime can boot the disks in place (libvirt disk slices) instead of
// unpacking them.
type LocalLayer struct {
	Path  string            `json:"path"`  // the blob file
	Files map[string]Extent `json:"files"` // by cleaned path in the layer, e.g. disk/disk0.qcow2
	// Built is the blob's stamp when Build wrote it and computed its
	// digests from the bytes it wrote (podvm-verified.json), if recorded.
	Built *Stamp `json:"built,omitempty"`
}

// OpenLocalLayer reads an oci: image's manifest and, when its layer is an
// uncompressed tar, finds every file in the blob by reading the tar
// headers only. Other images give ErrNotInPlace; nothing is verified yet
// (see Verify).
func OpenLocalLayer(ctx context.Context, ref string, ro RegistryOptions) (*Info, *LocalLayer, error) {
	if !strings.HasPrefix(ref, "oci:") {
		return nil, nil, ErrNotInPlace
	}
	info, err := Inspect(ctx, ref, ro)
	if err != nil {
		return nil, nil, err
	}
	if info.LayerMediaType != imgspecv1.MediaTypeImageLayer {
		return info, nil, ErrNotInPlace
	}
	dir, _, _ := strings.Cut(strings.TrimPrefix(ref, "oci:"), ":")
	enc := strings.TrimPrefix(info.LayerDigest, "sha256:")
	if enc == info.LayerDigest || strings.ContainsAny(enc, "/.") {
		return nil, nil, fmt.Errorf("image %s: layer digest %s: want sha256", ref, info.LayerDigest)
	}
	p, err := filepath.Abs(filepath.Join(dir, "blobs", "sha256", enc))
	if err != nil {
		return nil, nil, fmt.Errorf("image %s: %w", ref, err)
	}
	files, err := layerExtents(ctx, p)
	if err != nil {
		return nil, nil, fmt.Errorf("image %s: %w", ref, err)
	}
	l := &LocalLayer{Path: p, Files: files}
	if st, ok := readVerified(dir)[info.LayerDigest]; ok {
		l.Built = &st
	}
	return info, l, nil
}

// UnchangedSinceBuild reports whether the file at path (the blob, or a
// hard link to it) is still the one Build hashed: same inode, size and
// modification time. Its disks then need no hashing on first use.
func (l *LocalLayer) UnchangedSinceBuild(path string) bool {
	if l.Built == nil {
		return false
	}
	st, err := StampOf(path)
	return err == nil && st == *l.Built
}

// layerExtents reads a tar's headers, seeking over the data, and returns
// where every regular file's data lies.
func layerExtents(ctx context.Context, blob string) (map[string]Extent, error) {
	f, err := os.Open(blob)
	if err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	defer f.Close()
	tr := tar.NewReader(f) // seeks over file data: f is an io.Seeker
	out := map[string]Extent{}
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		h, err := tr.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", blob, err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		off, err := f.Seek(0, io.SeekCurrent)
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", blob, err)
		}
		out[path.Clean(h.Name)] = Extent{Offset: off, Size: h.Size}
	}
}

// Disk returns the extent of an image disk in the layer.
func (l *LocalLayer) Disk(d Disk) (Extent, error) {
	e, ok := l.Files[path.Clean(d.File)]
	if !ok {
		return Extent{}, fmt.Errorf("disk %s: layer %s lacks %s", d.Name, l.Path, d.File)
	}
	if d.SizeBytes != 0 && e.Size != d.SizeBytes {
		return Extent{}, fmt.Errorf("disk %s (%s): %d bytes in the layer, the image records %d", d.Name, d.File, e.Size, d.SizeBytes)
	}
	return e, nil
}

// Verify hashes every disk where it lies in the layer, the disks in
// parallel, and fails naming the first disk whose SHA-256 is not the one
// the image records; a disk without one is checked by hashing the whole
// layer against its digest. It reads each disk's range once and stops with ctx's
// error within a chunk.
func (l *LocalLayer) Verify(ctx context.Context, info *Info) error {
	f, err := os.Open(l.Path)
	if err != nil {
		return fmt.Errorf("layer: %w", err)
	}
	defer f.Close()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	var byLayer []string // the disks the layer digest checks
	for _, d := range info.Disks {
		e, err := l.Disk(d)
		if err != nil {
			return err
		}
		if d.SHA256 == "" {
			byLayer = append(byLayer, fmt.Sprintf("disk %s (%s)", d.Name, d.File))
			continue
		}
		g.Go(func() error {
			got, err := hashRange(gctx, f, e)
			if err != nil {
				return fmt.Errorf("disk %s (%s): %w", d.Name, d.File, err)
			}
			if got != d.SHA256 {
				return fmt.Errorf("disk %s (%s): sha256 %s, the image records %s: its bytes changed after packaging", d.Name, d.File, got, d.SHA256)
			}
			return nil
		})
	}
	if len(byLayer) > 0 {
		g.Go(func() error {
			disks := strings.Join(byLayer, ", ")
			got, err := hashRange(gctx, f, Extent{Offset: 0, Size: l.size(f)})
			if err != nil {
				return fmt.Errorf("%s: layer %s: %w", disks, l.Path, err)
			}
			if "sha256:"+got != info.LayerDigest {
				return fmt.Errorf("%s: the layer hashes to sha256:%s, the image records %s: its bytes changed after packaging", disks, got, info.LayerDigest)
			}
			return nil
		})
	}
	return g.Wait()
}

// size is the blob's size, or -1 if it cannot be read (the hash then fails).
func (l *LocalLayer) size(f *os.File) int64 {
	st, err := f.Stat()
	if err != nil {
		return -1
	}
	return st.Size()
}

// Extract copies a file of the layer to a new file dst (0444), checking
// its SHA-256 against want on the way.
func (l *LocalLayer) Extract(ctx context.Context, name, dst, want string) error {
	e, ok := l.Files[path.Clean(name)]
	if !ok {
		return fmt.Errorf("layer %s lacks %s", l.Path, name)
	}
	f, err := os.Open(l.Path)
	if err != nil {
		return fmt.Errorf("layer: %w", err)
	}
	defer f.Close()
	if want == "" {
		return fmt.Errorf("layer %s: %s: no sha256 to check it against", l.Path, name)
	}
	return writeChecked(ctxReader{ctx, io.NewSectionReader(f, e.Offset, e.Size)}, dst, name, want)
}

// hashRange is the SHA-256 of a range of f, read in 1 MiB chunks.
func hashRange(ctx context.Context, f *os.File, e Extent) (string, error) {
	h := sha256.New()
	if _, err := copyChunks(ctx, h, io.NewSectionReader(f, e.Offset, e.Size)); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// copyChunks copies r to a hash in 1 MiB chunks, checking ctx before each.
func copyChunks(ctx context.Context, h hash.Hash, r io.Reader) (int64, error) {
	return io.CopyBuffer(h, ctxReader{ctx, r}, make([]byte, copyChunk))
}
