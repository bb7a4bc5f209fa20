package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/podvm-migrate/podvm-migrate/image"
)

// storedImage is an image in the local store: what it holds, its folder,
// the disks the overlays sit on and the kernel files, if it carries any.
type storedImage struct {
	info  *image.Info
	dir   string
	disks []baseDisk  // in the image's disk order
	boot  *image.Boot // paths in the store
}

// pull makes sure the image is in the local store and returns it. The
// store folder is images/<manifest digest>/. An uncompressed image in a
// local OCI layout is not copied: its layer blob is hard-linked (or
// reflinked, or copied when it lies on another file system) into the
// folder and its disks are booted where they lie in it (see inplace.go).
// Any other image is unpacked once into NAME.qcow2 files (read-only).
// Either way every disk is checked against its recorded SHA-256 on first
// use, unless the blob is the very file image.Build wrote and hashed,
// untouched since (same inode, size and modification time: the layout's
// podvm-verified.json); an image already there is not fetched or checked
// again.
func (r *Runtime) pull(ctx context.Context, ref string) (*storedImage, error) {
	info, err := image.Inspect(ctx, ref, r.cfg.Registry)
	if err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("run: image %s: %w: %v", ref, ErrImageNotFound, err)
		}
		return nil, fmt.Errorf("run: %w", err)
	}
	key := strings.TrimPrefix(info.ManifestDigest, "sha256:")
	dir := filepath.Join(r.cfg.StateDir, "images", key)
	if s, err := r.stored(dir); err == nil {
		return s, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		r.cfg.Log.Warn("stored image changed; taking it in again", "ref", ref, "dir", dir, "reason", err)
		if err := os.RemoveAll(dir); err != nil {
			return nil, fmt.Errorf("run: image store %s: %w", dir, err)
		}
	}
	local, layer, err := image.OpenLocalLayer(ctx, ref, r.cfg.Registry)
	switch {
	case err == nil:
		r.cfg.Log.Debug("taking image in place", "ref", ref, "digest", local.ManifestDigest, "layer", layer.Path)
		err = linkImage(ctx, local, layer, dir)
	case errors.Is(err, image.ErrNotInPlace):
		r.cfg.Log.Debug("pulling image", "ref", ref, "digest", info.ManifestDigest)
		_, err = image.Unpack(ctx, ref, dir, r.cfg.Registry)
	}
	if err != nil {
		if _, serr := os.Stat(filepath.Join(dir, "image.json")); serr == nil {
			// Another run took it in at the same time.
			return r.stored(dir)
		}
		return nil, fmt.Errorf("run: %w", err)
	}
	return r.stored(dir)
}

// stored reads a store folder: image.json, and layer.json for an image
// taken in place, whose layer must be unchanged since it was verified.
// A folder that is not there gives an error matching os.ErrNotExist.
func (r *Runtime) stored(dir string) (*storedImage, error) {
	b, err := os.ReadFile(filepath.Join(dir, "image.json"))
	if err != nil {
		return nil, err
	}
	var info image.Info
	if err := json.Unmarshal(b, &info); err != nil {
		return nil, fmt.Errorf("image store %s: %w", dir, err)
	}
	s := &storedImage{info: &info, dir: dir}
	rec, err := readLayerRecord(dir)
	switch {
	case errors.Is(err, os.ErrNotExist): // unpacked
		for _, d := range info.Disks {
			s.disks = append(s.disks, baseDisk{path: filepath.Join(dir, d.Name+".qcow2"), format: image.FormatQCOW2})
		}
	case err != nil:
		return nil, err
	default:
		if err := rec.unchanged(); err != nil {
			return nil, err
		}
		for _, d := range info.Disks {
			e, err := rec.Layer.Disk(d)
			if err != nil {
				return nil, fmt.Errorf("image store %s: %w", dir, err)
			}
			s.disks = append(s.disks, baseDisk{path: rec.Layer.Path, format: image.FormatQCOW2, slice: &e})
		}
	}
	if info.Boot != nil {
		b := *info.Boot
		b.Kernel = filepath.Join(dir, "vmlinuz")
		if b.Initrd != "" {
			b.Initrd = filepath.Join(dir, "initrd.img")
		}
		s.boot = &b
	}
	return s, nil
}

// isNotFound tells "there is no such image" from other failures.
func isNotFound(err error) bool {
	if errors.Is(err, fs.ErrNotExist) {
		return true
	}
	s := strings.ToLower(err.Error())
	for _, m := range []string{"manifest unknown", "no such file", "not found", "name unknown", "no descriptor found"} {
		if strings.Contains(s, m) {
			return true
		}
	}
	return false
}
