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

// pull makes sure the image is unpacked in the local store and returns its
// folder: images/<manifest digest>/ with NAME.qcow2 (read-only), and the
// kernel when the image carries one. An image already there is not fetched
// again.
func (r *Runtime) pull(ctx context.Context, ref string) (*image.Info, string, error) {
	info, err := image.Inspect(ctx, ref, r.cfg.Registry)
	if err != nil {
		if isNotFound(err) {
			return nil, "", fmt.Errorf("run: image %s: %w: %v", ref, ErrImageNotFound, err)
		}
		return nil, "", fmt.Errorf("run: %w", err)
	}
	key := strings.TrimPrefix(info.ManifestDigest, "sha256:")
	dir := filepath.Join(r.cfg.StateDir, "images", key)
	if b, err := os.ReadFile(filepath.Join(dir, "image.json")); err == nil {
		var stored image.Info
		if json.Unmarshal(b, &stored) == nil {
			return &stored, dir, nil
		}
	}
	r.cfg.Log.Info("pulling image", "ref", ref, "digest", info.ManifestDigest)
	info, err = image.Unpack(ctx, ref, dir, r.cfg.Registry)
	if err != nil {
		if _, serr := os.Stat(filepath.Join(dir, "image.json")); serr == nil {
			// Another run unpacked it at the same time.
			return r.pull(ctx, ref)
		}
		return nil, "", fmt.Errorf("run: %w", err)
	}
	return info, dir, nil
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
