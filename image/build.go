package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/podvm-migrate/podvm-migrate/convert"
	"github.com/podvm-migrate/podvm-migrate/podvm"

	digest "github.com/opencontainers/go-digest"
	imgspecv1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// BuildOptions say what goes into a pod VM image and where it goes.
type BuildOptions struct {
	Disks    []string        // any disk convert reads (raw, VMDK, qcow2, OVA), in the spec's disk order
	Spec     *podvm.Spec     // nil: DefaultSpec for the disks
	To       string          // oci:DIR:TAG or docker://HOST/REPO:TAG
	Registry RegistryOptions // TLS and credentials for docker:// destinations
	// Compress is the layer's compression; "" is DefaultCompression(To):
	// none for an oci: layout, gzip for a registry.
	Compress Compression
	// Kernel, Initrd and Cmdline optionally carry the guest's kernel in the
	// image under boot/, for direct kernel boot and KVM smoke tests.
	Kernel, Initrd, Cmdline string
	// WorkDir is the scratch space for conversions. By default it is a
	// hidden folder inside an oci: layout (the converted disk then
	// becomes its layer by a rename, and a small /tmp does not limit the
	// disk size), else os.TempDir().
	WorkDir string
	// Adopt says Disks are scratch files the caller gives up (a
	// migration's transferred qcow2s). The biggest standalone qcow2 among
	// them that lies on the layout's file system then becomes the layer
	// of an uncompressed oci: image itself: the tar headers are inserted
	// before its bytes in place instead of copying them. Its file is gone
	// after Build succeeds, and given back when Build fails. Conversions
	// Build makes in WorkDir are always taken so.
	Adopt bool
	// Paths widens which local files a VMDK descriptor among Disks may
	// name besides its own folder (--allow-path).
	Paths convert.PathPolicy
	Log   func(format string, args ...any)
}

// Build packs disks and a spec into a pod VM image and writes it to o.To.
// Disks are opened with convert: a standalone qcow2 goes in as it is,
// anything else (raw, VMDK of any subformat, snapshot deltas read through
// their parents, a qcow2 with a backing chain, an OVA's disk) is converted
// to qcow2 by convert's engine first. The layer is written once, straight
// to its destination (an oci: layout's blobs/ folder, or streamed to a
// registry), compressed on all cores or not at all, its digests computed
// as it is written. Build stops with ctx's error between steps and within
// every copy, and leaves no image behind when it fails.
//
// An oci: layout's missing parent folders are created (and removed again
// when Build fails).
func Build(ctx context.Context, o BuildOptions) (info *Info, err error) {
	if len(o.Disks) == 0 {
		return nil, fmt.Errorf("image: no disks given")
	}
	ref, createdParents, err := parseDestination(o.To)
	if err != nil {
		return nil, err
	}
	if createdParents != "" {
		defer func() {
			if err != nil {
				removeCreated(filepath.Dir(filepath.Clean(layoutDir(o.To))), createdParents)
			}
		}()
	}
	comp, err := ParseCompression(string(o.Compress))
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	if comp == "" {
		comp = DefaultCompression(o.To)
	}
	var boot *layerBoot
	if o.Kernel != "" {
		boot = &layerBoot{kernel: o.Kernel, initrd: o.Initrd, cmdline: o.Cmdline}
	} else if o.Initrd != "" || o.Cmdline != "" {
		return nil, fmt.Errorf("image: an initrd or command line needs a kernel")
	}
	logf := o.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	srcs := make([]*sourceDisk, 0, len(o.Disks))
	defer func() {
		for _, d := range srcs {
			d.img.Close()
		}
	}()
	for _, p := range o.Disks {
		d, err := openDisk(p, o.Paths)
		if err != nil {
			return nil, fmt.Errorf("image: %w", err)
		}
		srcs = append(srcs, d)
	}
	spec, err := imageSpec(o, srcs)
	if err != nil {
		return nil, err
	}
	// A local layout is opened first: conversions go to a work folder in
	// it unless the caller names one.
	var dest destination
	defer func() {
		if dest != nil {
			dest.close()
		}
	}()
	workParent, workPattern := o.WorkDir, "podvm-image-"
	if ref.Transport().Name() == "oci" {
		ld, err := openLayout(o.To)
		if err != nil {
			return nil, err
		}
		dest = ld
		if workParent == "" {
			workParent, workPattern = ld.dir, ".podvm-work-"
		}
	}
	work, err := os.MkdirTemp(workParent, workPattern)
	if err != nil {
		return nil, fmt.Errorf("image: work folder for conversions: %w", err)
	}
	defer os.RemoveAll(work)
	// Only an uncompressed layer in a local layout takes a disk in place.
	inPlace := comp == CompressNone && strings.HasPrefix(o.To, "oci:")
	// The biggest disk is the one most likely taken in place: only its
	// layer digest is worth computing while it is converted.
	biggest := 0
	for i, d := range srcs {
		if d.img.Size() > srcs[biggest].img.Size() {
			biggest = i
		}
	}
	disks := make([]layerDisk, 0, len(srcs))
	adoptable := make([]bool, len(srcs))
	for i, d := range srcs {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("image: %w", err)
		}
		name := spec.Disks[i].Name
		if !d.asIs() {
			logf("converting %s (%s) to qcow2", d.path, d.img.Format())
		}
		p, err := d.qcow2In(ctx, work, name, inPlace && i == biggest)
		if err != nil {
			return nil, fmt.Errorf("image: %w", err)
		}
		disks = append(disks, layerDisk{name: name, path: p, virtualSize: d.img.Size()})
		adoptable[i] = o.Adopt || !d.asIs()
	}
	if dest == nil {
		d, err := openDestination(ctx, o.To, ref, o.Registry)
		if err != nil {
			return nil, err
		}
		dest = d
	}
	logf("packing %d disk(s) into %s (%s)", len(disks), o.To, comp)
	mtime := layerModTime()
	var lr *layerResult
	err = errNoAdopt
	if ld, ok := dest.(*layoutDest); ok && comp == CompressNone {
		if first := largestAdoptable(disks, adoptable); first >= 0 {
			lr, err = ld.adoptLayer(ctx, disks, first, boot, mtime)
			if err == nil {
				logf("%s became the layer in place (no copy)", disks[first].path)
			}
		}
	}
	if errors.Is(err, errNoAdopt) {
		lr, err = dest.putLayer(ctx, func(w io.Writer) (*layerResult, error) {
			return writeLayer(ctx, w, comp, disks, boot, mtime)
		})
	}
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	labels, err := imageLabels(spec, lr)
	if err != nil {
		return nil, err
	}
	cfg, err := imageConfig(labels, lr, mtime)
	if err != nil {
		return nil, err
	}
	cfgDesc, err := dest.putBlob(ctx, cfg, imgspecv1.MediaTypeImageConfig)
	if err != nil {
		return nil, err
	}
	manifest, err := imageManifest(labels, cfgDesc, lr)
	if err != nil {
		return nil, err
	}
	logf("writing %s", o.To)
	if err := dest.commit(ctx, manifest); err != nil {
		return nil, err
	}
	if o.Adopt {
		// The caller gave the disks up: no layer hash record of theirs
		// (LayerHash) is of use any more.
		for _, p := range o.Disks {
			DropLayerHash(p)
		}
	}
	return &Info{Ref: o.To, ManifestDigest: digest.FromBytes(manifest).String(), MediaType: imgspecv1.MediaTypeImageManifest,
		Spec: *spec, Disks: lr.disks, Boot: lr.boot, LayerDigest: lr.digest.String(), LayerSize: lr.size, LayerMediaType: lr.mediaType,
		LayerDiffID: lr.diffID.String()}, nil
}

// imageSpec is the spec the image carries: the given one completed with
// disk file names and capacities, or DefaultSpec.
func imageSpec(o BuildOptions, disks []*sourceDisk) (*podvm.Spec, error) {
	var s podvm.Spec
	if o.Spec == nil {
		s = podvm.DefaultSpec(podvm.NameFromFile(o.Disks[0]), disks[0].img.Size())
		for i := 1; i < len(o.Disks); i++ {
			s.Disks = append(s.Disks, podvm.Disk{Name: fmt.Sprintf("disk%d", i), Bus: podvm.BusVirtio, CapacityBytes: disks[i].img.Size()})
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
			s.Disks[i].CapacityBytes = disks[i].img.Size()
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
