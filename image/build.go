package image

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/podvm-migrate/podvm-migrate/podvm"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/containers/image/v5/copy"
	"github.com/containers/image/v5/oci/layout"
	"github.com/containers/image/v5/signature"
	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	imgspecv1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// BuildOptions say what goes into a pod VM image and where it goes.
type BuildOptions struct {
	Disks    []string        // raw, VMDK (sparse/stream) or qcow2 files, in the spec's disk order
	Spec     *podvm.Spec     // nil: DefaultSpec for the disks
	To       string          // oci:DIR:TAG or docker://HOST/REPO:TAG
	Registry RegistryOptions // TLS and credentials for docker:// destinations
	// Kernel, Initrd and Cmdline optionally carry the guest's kernel in the
	// image under boot/, for direct kernel boot and KVM smoke tests.
	Kernel, Initrd, Cmdline string
	WorkDir                 string // scratch space for conversions; default os.TempDir()
	Log                     func(format string, args ...any)
}

// Build packs disks and a spec into a pod VM image and writes it to
// o.To with containers/image. Non-qcow2 disks are converted to qcow2 first.
func Build(ctx context.Context, o BuildOptions) (*Info, error) {
	if len(o.Disks) == 0 {
		return nil, fmt.Errorf("image: no disks given")
	}
	dest, err := ParseRef(o.To)
	if err != nil {
		return nil, err
	}
	logf := o.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	work, err := os.MkdirTemp(o.WorkDir, "podvm-image-")
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	defer os.RemoveAll(work)

	headers := make([]*diskHeader, len(o.Disks))
	for i, d := range o.Disks {
		if headers[i], err = readDiskHeader(d); err != nil {
			return nil, err
		}
	}
	spec, err := imageSpec(o, headers)
	if err != nil {
		return nil, err
	}
	var disks []layerDisk
	for i, d := range o.Disks {
		p := d
		if headers[i].Format != FormatQCOW2 || headers[i].HasBacking {
			p = filepath.Join(work, spec.Disks[i].Name+".qcow2")
			format := headers[i].Format
			if headers[i].HasBacking {
				format = FormatQCOW2
			}
			logf("converting %s (%s) to qcow2", d, format)
			if err := convertToQCOW2(ctx, d, format, p); err != nil {
				return nil, err
			}
		}
		disks = append(disks, layerDisk{name: spec.Disks[i].Name, path: p})
	}
	stage := filepath.Join(work, "layout")
	var boot *layerBoot
	if o.Kernel != "" {
		boot = &layerBoot{kernel: o.Kernel, initrd: o.Initrd, cmdline: o.Cmdline}
	} else if o.Initrd != "" || o.Cmdline != "" {
		return nil, fmt.Errorf("image: an initrd or command line needs a kernel")
	}
	info, err := writeLayout(stage, spec, disks, boot)
	if err != nil {
		return nil, err
	}
	src, err := layout.NewReference(stage, "podvm")
	if err != nil {
		return nil, fmt.Errorf("image: staging layout: %w", err)
	}
	if strings.HasPrefix(o.To, "oci:") {
		// containers/image writes into an existing layout; make sure the folder exists.
		dir := strings.SplitN(strings.TrimPrefix(o.To, "oci:"), ":", 2)[0]
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("image: %w", err)
		}
	}
	logf("writing %s", o.To)
	policy, err := signature.NewPolicyContext(&signature.Policy{Default: []signature.PolicyRequirement{signature.NewPRInsecureAcceptAnything()}})
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	defer policy.Destroy()
	manifest, err := copy.Image(ctx, policy, dest, src, &copy.Options{DestinationCtx: o.Registry.systemContext()})
	if err != nil {
		return nil, fmt.Errorf("image: write %s: %w", o.To, err)
	}
	info.Ref = o.To
	info.ManifestDigest = digest.FromBytes(manifest).String()
	return info, nil
}

// imageSpec is the spec the image carries: the given one completed with
// disk file names and capacities, or DefaultSpec.
func imageSpec(o BuildOptions, headers []*diskHeader) (*podvm.Spec, error) {
	var s podvm.Spec
	if o.Spec == nil {
		s = podvm.DefaultSpec(podvm.NameFromFile(o.Disks[0]), headers[0].VirtualSize)
		for i := 1; i < len(o.Disks); i++ {
			s.Disks = append(s.Disks, podvm.Disk{Name: fmt.Sprintf("disk%d", i), Bus: podvm.BusVirtio, CapacityBytes: headers[i].VirtualSize})
		}
	} else {
		b, _ := json.Marshal(o.Spec) // deep copy: the caller's spec stays untouched
		if err := json.Unmarshal(b, &s); err != nil {
			return nil, err
		}
		if len(s.Disks) != len(o.Disks) {
			return nil, fmt.Errorf("image: spec %q lists %d disks but %d disk files were given", s.Name, len(s.Disks), len(o.Disks))
		}
	}
	for i := range s.Disks {
		s.Disks[i].File = s.Disks[i].Name + ".qcow2"
		if s.Disks[i].CapacityBytes == 0 {
			s.Disks[i].CapacityBytes = headers[i].VirtualSize
		}
		if s.Disks[i].Source == "" {
			s.Disks[i].Source = filepath.Base(o.Disks[i])
		}
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	return &s, nil
}

// writeLayout writes a one-image OCI layout (tag "podvm") at dir: the disk
// layer, a config whose labels hold the spec and disks, and a manifest
// annotated the same way.
func writeLayout(dir string, spec *podvm.Spec, disks []layerDisk, boot *layerBoot) (*Info, error) {
	blobs := filepath.Join(dir, "blobs", "sha256")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	tmp, err := os.CreateTemp(blobs, "layer-")
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	mtime := time.Unix(0, 0).UTC()
	lr, err := writeLayer(tmp, disks, boot, mtime)
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
