package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/podvm-migrate/podvm-migrate/image"
)

// layerFile is the name of the layer blob in a store folder of an image
// taken in place.
const layerFile = "layer"

// layerRecord is layer.json in a store folder of an image taken in place:
// where its files lie in the layer, and the layer's identity when its
// disks were verified.
type layerRecord struct {
	Layer image.LocalLayer `json:"layer"`
	Stat  image.Stamp      `json:"stat"`
}

func readLayerRecord(dir string) (*layerRecord, error) {
	b, err := os.ReadFile(filepath.Join(dir, "layer.json"))
	if err != nil {
		return nil, err
	}
	var rec layerRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("image store %s: %w", dir, err)
	}
	return &rec, nil
}

// unchanged fails when the layer is not the file that was verified. Its
// error never matches os.ErrNotExist: the store folder is there.
func (rec *layerRecord) unchanged() error {
	now, err := image.StampOf(rec.Layer.Path)
	if err != nil {
		return fmt.Errorf("layer %s: %v", rec.Layer.Path, err)
	}
	if now != rec.Stat {
		return fmt.Errorf("layer %s changed since its disks were verified", rec.Layer.Path)
	}
	return nil
}

// linkImage takes an image whose layer is an uncompressed local blob into
// the store folder dir without copying its disks: the blob is hard-linked
// (reflinked or copied across file systems) as dir/layer, read-only, its
// disks verified where they lie in it (unless it is the file image.Build
// hashed, untouched since), the kernel files copied out. dir
// appears only when all of that worked.
func linkImage(ctx context.Context, info *image.Info, l *image.LocalLayer, dir string) error {
	// A folder of its own: two pulls of one image at once must not share it.
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return fmt.Errorf("image %s: %w", info.Ref, err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), filepath.Base(dir)+".partial-*")
	if err != nil {
		return fmt.Errorf("image %s: %w", info.Ref, err)
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("image %s: %w", info.Ref, err)
	}
	local := &image.LocalLayer{Path: filepath.Join(tmp, layerFile), Files: l.Files}
	if err := linkOrCopy(ctx, l.Path, local.Path); err != nil {
		return fmt.Errorf("image %s: %w", info.Ref, err)
	}
	if err := os.Chmod(local.Path, 0o444); err != nil {
		return fmt.Errorf("image %s: %w", info.Ref, err)
	}
	stamp, err := image.StampOf(local.Path)
	if err != nil {
		return fmt.Errorf("image %s: %w", info.Ref, err)
	}
	// A hard link to the blob Build just hashed, untouched since, is not
	// hashed again; anything else is.
	if !l.UnchangedSinceBuild(local.Path) {
		if err := local.Verify(ctx, info); err != nil {
			return fmt.Errorf("image %s: %w", info.Ref, err)
		}
	}
	if b := info.Boot; b != nil {
		if err := local.Extract(ctx, b.Kernel, filepath.Join(tmp, "vmlinuz"), b.KernelSHA256); err != nil {
			return fmt.Errorf("image %s: %w", info.Ref, err)
		}
		if b.Initrd != "" {
			if err := local.Extract(ctx, b.Initrd, filepath.Join(tmp, "initrd.img"), b.InitrdSHA256); err != nil {
				return fmt.Errorf("image %s: %w", info.Ref, err)
			}
		}
	}
	rec := layerRecord{Layer: image.LocalLayer{Path: filepath.Join(dir, layerFile), Files: l.Files}, Stat: stamp}
	for name, v := range map[string]any{"layer.json": rec, "image.json": info} {
		b, _ := json.MarshalIndent(v, "", "  ")
		if err := os.WriteFile(filepath.Join(tmp, name), b, 0o444); err != nil {
			return fmt.Errorf("image %s: %w", info.Ref, err)
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("image %s: %w", info.Ref, err)
	}
	return nil
}

// linkOrCopy makes dst hold src's bytes at the least cost: a hard link,
// else a reflink (copy on write), else a copy by copy_file_range in 64 MiB
// steps that stops with ctx's error.
func linkOrCopy(ctx context.Context, src, dst string) error {
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	err = unix.IoctlFileClone(int(out.Fd()), int(in.Fd()))
	if err != nil {
		for err = nil; err == nil; {
			if err = ctx.Err(); err == nil {
				_, err = io.CopyN(out, in, 64<<20)
			}
		}
		if errors.Is(err, io.EOF) {
			err = nil
		}
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(dst)
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return nil
}
