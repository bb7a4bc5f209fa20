package migrate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/podvm-migrate/podvm-migrate/image"
	"github.com/podvm-migrate/podvm-migrate/plan"
	"github.com/podvm-migrate/podvm-migrate/runtime"
)

// RuntimeTarget runs pod VMs on the included runtime: images in OCI
// layouts in the run directory, booted through libvirt.
type RuntimeTarget struct {
	Runtime *runtime.Runtime
	Accel   string        // auto | kvm | tcg
	Ready   time.Duration // readiness timeout; default 2 minutes
	WorkDir string        // scratch for image builds
	// Compress is the layer's compression; "" is none, which the runtime
	// boots in place.
	Compress image.Compression
	// Replace lets a pod VM of another run (or one 'run' started) give way
	// to this run's pod VM of the same name; without it that VM is kept
	// and this one fails.
	Replace bool
}

var (
	_ Target      = (*RuntimeTarget)(nil)
	_ NameChecker = (*RuntimeTarget)(nil)
)

// ImageRef is an OCI layout in the run directory.
func (t *RuntimeTarget) ImageRef(runDir, name string) string {
	return "oci:" + filepath.Join(runDir, "images", name) + ":latest"
}

// Package builds the pod VM image into an OCI layout. The transferred
// disks are scratch files: an uncompressed image takes the biggest as its
// layer in place, without copying it (see Runner.inImage for resuming).
func (t *RuntimeTarget) Package(ctx context.Context, vm *plan.PlannedVM, disks []string, ref string) (*PackageResult, error) {
	return buildImage(ctx, vm, disks, ref, t.WorkDir, image.RegistryOptions{}, t.Compress, true)
}

// ImageOK checks that the image at ref is the one built before.
func (t *RuntimeTarget) ImageOK(ctx context.Context, ref, digest string) bool {
	return imageOK(ctx, ref, digest, image.RegistryOptions{})
}

// CheckName fails when a pod VM named as vm's exists and was not made
// from ref (this run's image for it), unless t.Replace: another run's pod
// VM, or one 'podvm-migrate run' started, is never replaced silently.
func (t *RuntimeTarget) CheckName(ctx context.Context, vm *plan.PlannedVM, ref string) error {
	pod, err := t.Runtime.Get(ctx, vm.Spec.Name)
	if errors.Is(err, runtime.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("pod VM %s: %w", vm.Spec.Name, err)
	}
	if t.Replace || sameLayout(pod.Image, ref) {
		return nil
	}
	from := "image " + pod.Image
	if run := runDirOf(pod.Image); run != "" {
		from = "run directory " + run + ", " + from
	}
	return fmt.Errorf("pod VM %s already exists (%s, from %s): not replaced; pass --replace to replace it, remove it first ('podvm-migrate rm -f %s'), or leave this VM out of the run (--vm)",
		vm.Spec.Name, pod.State, from, vm.Spec.Name)
}

// removeHint is the command that removes pod VM name, running or not.
func (t *RuntimeTarget) removeHint(name string) string {
	return "'podvm-migrate rm -f " + name + "'"
}

// ociLayout returns the absolute folder of an oci:DIR[:TAG] reference, or "".
func ociLayout(ref string) string {
	rest, ok := strings.CutPrefix(ref, "oci:")
	if !ok {
		return ""
	}
	if i := strings.LastIndexByte(rest, ':'); i > strings.LastIndexByte(rest, '/') {
		rest = rest[:i]
	}
	abs, err := filepath.Abs(rest)
	if err != nil {
		return ""
	}
	return abs
}

// sameLayout reports whether two image references name the same OCI layout.
func sameLayout(a, b string) bool {
	la, lb := ociLayout(a), ociLayout(b)
	return la != "" && la == lb
}

// runDirOf returns the run directory whose images/ folder holds ref's
// layout (as RuntimeTarget.ImageRef makes them), or "".
func runDirOf(ref string) string {
	l := ociLayout(ref)
	if l == "" || filepath.Base(filepath.Dir(l)) != "images" {
		return ""
	}
	return filepath.Dir(filepath.Dir(l))
}

// Boot runs the pod VM from its image, replacing one of the same name made
// from the same image (an earlier attempt of this run), and waits for its
// readiness line. A pod VM of that name from elsewhere is kept and the
// boot fails (CheckName), unless t.Replace. Its NICs land where the spec's
// NIC networks (the plan's network map) say: libvirt:NAME, bridge:NAME, or
// user networking for anything else (see runtime.ParseNICNetwork).
func (t *RuntimeTarget) Boot(ctx context.Context, vm *plan.PlannedVM, ref string) (*BootResult, error) {
	if err := t.CheckName(ctx, vm, ref); err != nil {
		return nil, err
	}
	if _, err := t.Runtime.Get(ctx, vm.Spec.Name); err == nil {
		if err := t.Runtime.Remove(ctx, vm.Spec.Name, true); err != nil {
			return nil, fmt.Errorf("replace the earlier pod VM %s: %w", vm.Spec.Name, err)
		}
	}
	timeout := t.Ready
	if timeout == 0 {
		timeout = 2 * time.Minute
	}
	start := time.Now()
	publish, err := checkForwards(vm)
	if err != nil {
		return nil, err
	}
	pod, err := t.Runtime.Run(ctx, runtime.MachineConfig{Name: vm.Spec.Name, Image: ref, Accel: t.Accel, WaitReady: true, ReadyTimeout: timeout, Publish: publish})
	if err != nil {
		return nil, err
	}
	ready := time.Duration(pod.ReadyAfter)
	br := &BootResult{Accel: pod.Accel, Started: max(time.Since(start)-ready, 0), ReadyAfter: ready}
	for _, a := range pod.Addresses {
		br.Addresses = append(br.Addresses, a.IP)
	}
	return br, nil
}

// Running reports whether the pod VM runs.
func (t *RuntimeTarget) Running(ctx context.Context, vm *plan.PlannedVM) bool {
	pod, err := t.Runtime.Get(ctx, vm.Spec.Name)
	return err == nil && pod.State == runtime.StateRunning
}

// ApplianceAccel is the runtime's accelerator verdict, for libguestfs'
// appliance: TCG unless KVM is known to work.
func (t *RuntimeTarget) ApplianceAccel(ctx context.Context) string {
	v, err := t.Runtime.ResolveAccel(ctx, t.Accel, "", "")
	if err != nil {
		return runtime.AccelTCG
	}
	return v.Accel
}

// buildImage packages disks and the VM's spec as a pod VM image at ref.
func buildImage(ctx context.Context, vm *plan.PlannedVM, disks []string, ref, workDir string, ro image.RegistryOptions, comp image.Compression, adopt bool) (*PackageResult, error) {
	if workDir != "" {
		if err := os.MkdirAll(workDir, 0o755); err != nil {
			return nil, fmt.Errorf("image work folder: %w", err)
		}
	}
	spec := vm.Spec
	info, err := image.Build(ctx, image.BuildOptions{Disks: disks, Spec: &spec, To: ref, Registry: ro, WorkDir: workDir, Compress: comp, Adopt: adopt})
	if err != nil {
		return nil, err
	}
	return &PackageResult{Ref: info.Ref, Digest: info.ManifestDigest, Bytes: info.LayerSize}, nil
}

// imageOK reports whether ref holds the image with this manifest digest.
func imageOK(ctx context.Context, ref, digest string, ro image.RegistryOptions) bool {
	info, err := image.Inspect(ctx, ref, ro)
	return err == nil && digest != "" && info.ManifestDigest == digest
}
