package image

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/podvm-migrate/podvm-migrate/podvm"

	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	imgspecv1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// imageLabels are the config labels and manifest annotations of a pod VM
// image: the spec, the disks with their digests, the boot files.
func imageLabels(spec *podvm.Spec, lr *layerResult) (map[string]string, error) {
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
	return labels, nil
}

// imageConfig is the OCI image config of a pod VM image whose layer was
// written as lr says.
func imageConfig(labels map[string]string, lr *layerResult, created time.Time) ([]byte, error) {
	cfg := imgspecv1.Image{
		Created:  &created,
		Platform: imgspecv1.Platform{Architecture: "amd64", OS: "linux"},
		Config:   imgspecv1.ImageConfig{Labels: labels},
		RootFS:   imgspecv1.RootFS{Type: "layers", DiffIDs: []digest.Digest{lr.diffID}},
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("image: config: %w", err)
	}
	return b, nil
}

// imageManifest is the OCI manifest naming the config and the one layer,
// annotated like the config.
func imageManifest(labels map[string]string, cfg imgspecv1.Descriptor, lr *layerResult) ([]byte, error) {
	m := imgspecv1.Manifest{
		Versioned:   specs.Versioned{SchemaVersion: 2},
		MediaType:   imgspecv1.MediaTypeImageManifest,
		Config:      cfg,
		Layers:      []imgspecv1.Descriptor{{MediaType: lr.mediaType, Digest: lr.digest, Size: lr.size}},
		Annotations: labels,
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("image: manifest: %w", err)
	}
	return b, nil
}
