package migrate

import (
	"context"
	"time"

	"github.com/podvm-migrate/podvm-migrate/podvm"
)

// Stages are the steps the runner drives for each VM. Production stages
// wire convert, podvm images and the runtime (see NewLocalStages); the
// runner itself only orders them, times them, retries transient faults,
// journals them and resumes from the journal.
type Stages interface {
	// Transfer copies one source disk into dst (a qcow2 file), streaming and
	// converting in one pass, and returns what it read and wrote.
	Transfer(ctx context.Context, vm *podvm.PlannedVM, disk podvm.Disk, dst string, progress func(done, total int64)) (*TransferResult, error)
	// Checksum returns the SHA-256 of the guest-visible bytes of a finished
	// disk, to verify it before a rerun skips it.
	Checksum(ctx context.Context, path string) (string, error)
	// ImageRef is where the image of pod VM name goes.
	ImageRef(runDir, name string) string
	// Package builds the pod VM image from the VM's converted disks.
	Package(ctx context.Context, vm *podvm.PlannedVM, disks []string, ref string) (*PackageResult, error)
	// ImageOK reports whether ref still holds the image with this manifest digest.
	ImageOK(ctx context.Context, ref, digest string) bool
	// Boot starts the pod VM from the image and waits until it is ready.
	Boot(ctx context.Context, vm *podvm.PlannedVM, ref string) (*BootResult, error)
	// Running reports whether the pod VM already runs and was ready.
	Running(ctx context.Context, vm *podvm.PlannedVM) bool
}

// TransferResult is what one disk transfer did.
type TransferResult struct {
	ReadBytes    int64  // bytes read from the source (allocated data only)
	VirtualBytes int64  // guest-visible size
	WrittenBytes int64  // bytes written to the target
	Checksum     string // of the guest-visible bytes, "algorithm:hex" (convert.SumTree)
	// Attrs are more facts for the run record, e.g. what guest conversion did.
	Attrs map[string]string
}

// PackageResult is the image that was built.
type PackageResult struct {
	Ref    string
	Digest string // manifest digest
	Bytes  int64  // size of the image's disk layer
}

// BootResult is how the pod VM came up.
type BootResult struct {
	Accel      string        // kvm or tcg
	Started    time.Duration // from the call to the domain running
	ReadyAfter time.Duration // from the domain running to the readiness line
}
