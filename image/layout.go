package image

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/podvm-migrate/podvm-migrate/podvm"

	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	imgspecv1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// writeLayout writes a one-image OCI layout (tag "podvm") at dir: the disk
// layer, a config whose labels hold the spec and disks, and a manifest
// annotated the same way. It stops with ctx's error while writing the layer.
func writeLayout(ctx context.Context, dir string, spec *podvm.Spec, disks []layerDisk, boot *layerBoot) (*Info, error) {
	blobs := filepath.Join(dir, "blobs", "sha256")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	tmp, err := os.CreateTemp(blobs, "layer-")
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	mtime := time.Unix(0, 0).UTC()
	lr, err := writeLayer(ctx, tmp, disks, boot, mtime)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp.Name())
		return nil, err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(blobs, lr.digest.Encoded())); err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	specJSON, err := json.Marshal(spec)
	if err != nil {
		return nil, fmt.Errorf("image: spec: %w", err)
	}
	disksJSON, err := json.Marshal(lr.disks)
	if err != nil {
		return nil, fmt.Errorf("image: disks: %w", err)
	}
	labels := map[string]string{
		AnnotationSpec:                     string(specJSON),
		AnnotationDisks:                    string(disksJSON),
		imgspecv1.AnnotationTitle:          spec.Name,
		"io.podvm-migrate.source.name":     spec.Source.Name,
		"io.kubevirt.containerdisk.format": FormatQCOW2,
	}
	if lr.boot != nil {
		b, _ := json.Marshal(lr.boot)
		labels[AnnotationBoot] = string(b)
	}
	cfg := imgspecv1.Image{
		Created:  &mtime,
		Platform: imgspecv1.Platform{Architecture: "amd64", OS: "linux"},
		Config:   imgspecv1.ImageConfig{Labels: labels},
		RootFS:   imgspecv1.RootFS{Type: "layers", DiffIDs: []digest.Digest{lr.diffID}},
	}
	cfgDesc, err := writeJSONBlob(blobs, imgspecv1.MediaTypeImageConfig, cfg)
	if err != nil {
		return nil, err
	}
	m := imgspecv1.Manifest{
		Versioned:   specs.Versioned{SchemaVersion: 2},
		MediaType:   imgspecv1.MediaTypeImageManifest,
		Config:      cfgDesc,
		Layers:      []imgspecv1.Descriptor{{MediaType: imgspecv1.MediaTypeImageLayerGzip, Digest: lr.digest, Size: lr.size}},
		Annotations: labels,
	}
	mDesc, err := writeJSONBlob(blobs, imgspecv1.MediaTypeImageManifest, m)
	if err != nil {
		return nil, err
	}
	mDesc.Annotations = map[string]string{imgspecv1.AnnotationRefName: "podvm"}
	index := imgspecv1.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: imgspecv1.MediaTypeImageIndex, Manifests: []imgspecv1.Descriptor{mDesc}}
	b, _ := json.Marshal(index)
	if err := os.WriteFile(filepath.Join(dir, imgspecv1.ImageIndexFile), b, 0o644); err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	b, _ = json.Marshal(imgspecv1.ImageLayout{Version: imgspecv1.ImageLayoutVersion})
	if err := os.WriteFile(filepath.Join(dir, imgspecv1.ImageLayoutFile), b, 0o644); err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	return &Info{MediaType: m.MediaType, Spec: *spec, Disks: lr.disks, Boot: lr.boot, LayerDigest: lr.digest.String(), LayerSize: lr.size}, nil
}

// writeJSONBlob stores v as a blob and returns its descriptor.
func writeJSONBlob(blobs, mediaType string, v any) (imgspecv1.Descriptor, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return imgspecv1.Descriptor{}, fmt.Errorf("image: %s: %w", mediaType, err)
	}
	sum := sha256.Sum256(b)
	d := digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(sum[:]))
	if err := os.WriteFile(filepath.Join(blobs, d.Encoded()), b, 0o644); err != nil {
		return imgspecv1.Descriptor{}, fmt.Errorf("image: %w", err)
	}
	return imgspecv1.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(b))}, nil
}
