package image

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/podvm-migrate/podvm-migrate/internal/atomicfile"

	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	imgspecv1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// layoutDest writes an image into an OCI layout folder: blobs go straight
// to blobs/sha256/ (as a .partial file renamed to its digest when
// complete), index.json is replaced last, so an interrupted build leaves
// the layout as it was.
type layoutDest struct {
	dir, tag  string
	created   bool       // the folder did not exist before
	added     []string   // blobs that did not exist before
	adopted   []adoption // disk files that became blobs (adopt.go)
	committed bool
}

var _ destination = (*layoutDest)(nil)

// openLayout opens oci:DIR[:TAG] for writing, creating DIR if need be.
func openLayout(to string) (*layoutDest, error) {
	dir, tag, _ := strings.Cut(strings.TrimPrefix(to, "oci:"), ":")
	d := &layoutDest{dir: dir, tag: tag}
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		d.created = true
	}
	if err := os.MkdirAll(d.blobs(), 0o755); err != nil {
		d.close()
		return nil, fmt.Errorf("image: layout %s: %w", dir, err)
	}
	return d, nil
}

func (d *layoutDest) blobs() string { return filepath.Join(d.dir, "blobs", "sha256") }

// putLayer writes the layer to a .partial file in blobs/sha256 and renames
// it to its digest. The blob is read-only (0444): it never changes, and a
// runtime may boot its disks in place.
func (d *layoutDest) putLayer(ctx context.Context, write func(io.Writer) (*layerResult, error)) (*layerResult, error) {
	tmp, err := os.CreateTemp(d.blobs(), ".layer-*.partial")
	if err != nil {
		return nil, fmt.Errorf("image: layout %s: %w", d.dir, err)
	}
	lr, err := write(tmp)
	if cerr := tmp.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("image: %s: %w", tmp.Name(), cerr)
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o444)
	}
	placed := false
	if err == nil {
		placed, err = d.place(tmp.Name(), lr.digest)
	}
	if !placed {
		os.Remove(tmp.Name())
	}
	if err != nil {
		return nil, err
	}
	return lr, nil
}

// putBlob writes a small blob under its digest.
func (d *layoutDest) putBlob(_ context.Context, b []byte, mediaType string) (imgspecv1.Descriptor, error) {
	sum := sha256.Sum256(b)
	dg := digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(sum[:]))
	p := filepath.Join(d.blobs(), dg.Encoded())
	if _, err := os.Stat(p); err != nil {
		if err := atomicfile.WriteFile(p, b, 0o444); err != nil {
			return imgspecv1.Descriptor{}, fmt.Errorf("image: layout %s: %w", d.dir, err)
		}
		d.added = append(d.added, p)
	}
	return imgspecv1.Descriptor{MediaType: mediaType, Digest: dg, Size: int64(len(b))}, nil
}

func (d *layoutDest) blobPath(dg digest.Digest) string { return filepath.Join(d.blobs(), dg.Encoded()) }

// place renames a finished blob to its digest and records its stamp
// (podvm-verified.json): its digests were computed from the bytes just
// written. A blob already there with that digest holds the same bytes and
// stays; then tmp is left to the caller and placed is false.
func (d *layoutDest) place(tmp string, dg digest.Digest) (placed bool, err error) {
	p := d.blobPath(dg)
	if _, err := os.Stat(p); err == nil {
		return false, nil
	}
	if err := os.Rename(tmp, p); err != nil {
		return false, fmt.Errorf("image: layout %s: %w", d.dir, err)
	}
	d.added = append(d.added, p)
	// Without the stamp a runtime only hashes the disks again.
	_ = recordVerified(d.dir, dg.String(), p)
	return true, nil
}

// commit writes the manifest blob and replaces index.json, keeping the
// layout's other images and dropping the one this tag named before.
func (d *layoutDest) commit(ctx context.Context, manifest []byte) error {
	mDesc, err := d.putBlob(ctx, manifest, imgspecv1.MediaTypeImageManifest)
	if err != nil {
		return err
	}
	index := imgspecv1.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: imgspecv1.MediaTypeImageIndex}
	indexPath := filepath.Join(d.dir, imgspecv1.ImageIndexFile)
	if b, err := os.ReadFile(indexPath); err == nil {
		if err := json.Unmarshal(b, &index); err != nil {
			return fmt.Errorf("image: %s: %w", indexPath, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("image: %w", err)
	}
	kept := index.Manifests[:0]
	for _, m := range index.Manifests {
		if m.Annotations[imgspecv1.AnnotationRefName] != d.tag {
			kept = append(kept, m)
		}
	}
	if d.tag != "" {
		mDesc.Annotations = map[string]string{imgspecv1.AnnotationRefName: d.tag}
	}
	index.Manifests = append(kept, mDesc)
	layoutFile := filepath.Join(d.dir, imgspecv1.ImageLayoutFile)
	if _, err := os.Stat(layoutFile); err != nil {
		b, _ := json.Marshal(imgspecv1.ImageLayout{Version: imgspecv1.ImageLayoutVersion})
		if err := atomicfile.WriteFile(layoutFile, b, 0o644); err != nil {
			return fmt.Errorf("image: layout %s: %w", d.dir, err)
		}
	}
	b, err := json.Marshal(index)
	if err != nil {
		return fmt.Errorf("image: %s: %w", indexPath, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("image: %w", err)
	}
	if err := atomicfile.WriteFile(indexPath, b, 0o644); err != nil {
		return fmt.Errorf("image: layout %s: %w", d.dir, err)
	}
	d.committed = true
	return nil
}

// close removes what an uncommitted build wrote: the folder if it made
// it, else the blobs it added.
func (d *layoutDest) close() {
	if d.committed {
		return
	}
	for _, a := range d.adopted {
		a.giveBack()
	}
	if d.created {
		os.RemoveAll(d.dir)
		return
	}
	for _, p := range d.added {
		os.Remove(p)
	}
}
