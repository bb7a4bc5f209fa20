package migrate

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/podvm-migrate/podvm-migrate/convert"
	"github.com/podvm-migrate/podvm-migrate/convert/block"
	"github.com/podvm-migrate/podvm-migrate/podvm"
	"github.com/podvm-migrate/podvm-migrate/runtime"
)

// Opener opens a spec disk's source ("[ds1] vm/vm.vmdk" or a file path) for
// reading, and returns what to call once the image is closed (nil when
// there is nothing to do).
type Opener func(ctx context.Context, vm *podvm.PlannedVM, d podvm.Disk) (block.Image, func(), error)

// LocalFiles opens disks that are files on this machine (offline VMX, OVF
// or unpacked OVA sources), relative paths against baseDir.
func LocalFiles(baseDir string) Opener {
	return func(_ context.Context, vm *podvm.PlannedVM, d podvm.Disk) (block.Image, func(), error) {
		p := d.Source
		if p == "" {
			return nil, nil, fmt.Errorf("disk %s of %s has no source", d.Name, vm.Name)
		}
		if strings.HasPrefix(p, "[") {
			return nil, nil, fmt.Errorf("disk %s of %s is on a vSphere datastore (%s): give the vSphere connection (--url or GOVC_URL)", d.Name, vm.Name, p)
		}
		if !filepath.IsAbs(p) {
			p = filepath.Join(baseDir, p)
		}
		img, err := convert.Open(p, "")
		if err != nil {
			return nil, nil, fmt.Errorf("disk %s of %s: %w", d.Name, vm.Name, err)
		}
		return img, nil, nil
	}
}

// RuntimeStages are the production stages for the included runtime:
// convert's streaming engine, pod VM images in OCI layouts, and libvirt.
type RuntimeStages struct {
	Open    Opener
	Runtime *runtime.Runtime
	Accel   string        // auto | kvm | tcg
	Ready   time.Duration // readiness timeout; default 2 minutes
	WorkDir string        // scratch for image builds
	// GuestConversion is auto, always or never (see convert/guest): whether
	// Transfer runs virt-v2v-in-place on the copied disk. Empty is never.
	GuestConversion string
	// GuestCacheDir keeps libguestfs' appliance between runs; empty:
	// guest.DefaultCacheDir().
	GuestCacheDir string
}

var _ Stages = (*RuntimeStages)(nil)

// Transfer streams the source disk into a qcow2 file.
func (s *RuntimeStages) Transfer(ctx context.Context, vm *podvm.PlannedVM, d podvm.Disk, dst string, progress func(done, total int64)) (*TransferResult, error) {
	img, done, err := s.Open(ctx, vm, d)
	if err != nil {
		return nil, err
	}
	defer func() {
		img.Close()
		if done != nil {
			done()
		}
	}()
	res, err := convert.DiskFrom(ctx, img, d.Source, dst, convert.DiskOptions{Format: convert.FormatQCOW2, Force: true, Sync: true, Progress: progress})
	if err != nil {
		return nil, err
	}
	tr := &TransferResult{ReadBytes: res.ReadBytes, VirtualBytes: res.VirtualBytes, WrittenBytes: res.WrittenBytes, Checksum: res.SourceChecksum,
		Attrs: map[string]string{"sourceFormat": res.SourceFormat}}
	if err := s.convertGuest(ctx, vm, d, dst, tr); err != nil {
		return nil, err
	}
	return tr, nil
}

// Checksum reads a finished qcow2 disk's guest-visible SHA-256.
func (s *RuntimeStages) Checksum(ctx context.Context, path string) (string, error) {
	return convert.Checksum(ctx, path, convert.FormatQCOW2, "", 0)
}

// ImageRef is an OCI layout in the run directory.
func (s *RuntimeStages) ImageRef(runDir, name string) string {
	return "oci:" + filepath.Join(runDir, "images", name) + ":latest"
}

// Package builds the pod VM image into an OCI layout.
func (s *RuntimeStages) Package(ctx context.Context, vm *podvm.PlannedVM, disks []string, ref string) (*PackageResult, error) {
	if err := s.makeWorkDir(); err != nil {
		return nil, err
	}
	spec := vm.Spec
	info, err := podvm.BuildImage(ctx, podvm.BuildOptions{Disks: disks, Spec: &spec, To: ref, WorkDir: s.WorkDir})
	if err != nil {
		return nil, err
	}
	return &PackageResult{Ref: info.Ref, Digest: info.ManifestDigest, Bytes: info.LayerSize}, nil
}

// makeWorkDir creates the scratch folder image builds use.
func (s *RuntimeStages) makeWorkDir() error {
	if s.WorkDir == "" {
		return nil
	}
	if err := os.MkdirAll(s.WorkDir, 0o755); err != nil {
		return fmt.Errorf("image work folder: %w", err)
	}
	return nil
}

// ImageOK checks that the image at ref is the one built before.
func (s *RuntimeStages) ImageOK(ctx context.Context, ref, digest string) bool {
	info, err := podvm.InspectImage(ctx, ref, podvm.RegistryOptions{})
	return err == nil && digest != "" && info.ManifestDigest == digest
}

// Boot runs the pod VM from its image, replacing a stopped one of the same
// name, and waits for its readiness line.
func (s *RuntimeStages) Boot(ctx context.Context, vm *podvm.PlannedVM, ref string) (*BootResult, error) {
	if _, err := s.Runtime.Get(ctx, vm.Spec.Name); err == nil {
		if err := s.Runtime.Remove(ctx, vm.Spec.Name, true); err != nil {
			return nil, fmt.Errorf("replace the earlier pod VM %s: %w", vm.Spec.Name, err)
		}
	}
	timeout := s.Ready
	if timeout == 0 {
		timeout = 2 * time.Minute
	}
	start := time.Now()
	pod, err := s.Runtime.Run(ctx, runtime.MachineConfig{Name: vm.Spec.Name, Image: ref, Accel: s.Accel, WaitReady: true, ReadyTimeout: timeout})
	if err != nil {
		return nil, err
	}
	ready := time.Duration(pod.ReadyAfter)
	return &BootResult{Accel: pod.Accel, Started: max(time.Since(start)-ready, 0), ReadyAfter: ready}, nil
}

// Running reports whether the pod VM runs.
func (s *RuntimeStages) Running(ctx context.Context, vm *podvm.PlannedVM) bool {
	pod, err := s.Runtime.Get(ctx, vm.Spec.Name)
	return err == nil && pod.State == runtime.StateRunning
}
