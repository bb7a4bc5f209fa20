package migrate

import (
	"context"
	"time"

	"github.com/podvm-migrate/podvm-migrate/plan"
)

// Target is where pod VMs run. The runner hands it each VM's converted
// disks to package, then boots what it packaged; the targets (the included
// runtime, KubeVirt) sit side by side and share nothing but this shape.
type Target interface {
	// ImageRef is where the image of pod VM name goes.
	ImageRef(runDir, name string) string
	// Package builds the pod VM image from the VM's converted disks.
	Package(ctx context.Context, vm *plan.PlannedVM, disks []string, ref string) (*PackageResult, error)
	// ImageOK reports whether ref still holds the image with this manifest digest.
	ImageOK(ctx context.Context, ref, digest string) bool
	// Boot starts the pod VM from the image and waits until it is ready.
	Boot(ctx context.Context, vm *plan.PlannedVM, ref string) (*BootResult, error)
	// Running reports whether the pod VM already runs and was ready.
	Running(ctx context.Context, vm *plan.PlannedVM) bool
}

// PackageResult is the image that was built.
type PackageResult struct {
	Ref    string
	Digest string // manifest digest
	Bytes  int64  // size of the image's disk layer
}

// BootResult is how the pod VM came up.
type BootResult struct {
	Accel      string        // kvm or tcg, or the platform (kubevirt)
	Started    time.Duration // from the call to the domain running
	ReadyAfter time.Duration // from the domain running to the readiness line
	Addresses  []string      // the guest's IP addresses once ready, when the target knows them
}

// NameChecker is a Target that can tell, before a VM's disks are copied,
// that its pod VM's name is taken by a pod VM this run did not make (so
// booting would replace someone else's pod VM).
type NameChecker interface {
	// CheckName fails when the pod VM's name is taken by a pod VM that
	// did not come from ref, this run's image for it.
	CheckName(ctx context.Context, vm *plan.PlannedVM, ref string) error
}
