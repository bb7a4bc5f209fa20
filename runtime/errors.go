package runtime

import "errors"

// Errors a caller can tell apart with errors.Is.
var (
	// ErrLibvirtUnavailable: libvirtd does not answer.
	ErrLibvirtUnavailable = errors.New("libvirtd is not running or refuses the connection (start it with 'podvm-testenv libvirt' or 'libvirtd -d')")
	// ErrImageNotFound: the image reference or disk file does not exist.
	ErrImageNotFound = errors.New("image not found")
	// ErrNameTaken: a pod VM (or a foreign domain) already has the name.
	ErrNameTaken = errors.New("name taken")
	// ErrNotFound: no pod VM of ours has the name.
	ErrNotFound = errors.New("no such pod VM")
	// ErrNoMemory: the host cannot give the pod VM its memory.
	ErrNoMemory = errors.New("not enough memory")
	// ErrUnsatisfiable: the host cannot honour the spec (e.g. secure boot
	// without OVMF secure-boot firmware).
	ErrUnsatisfiable = errors.New("the host cannot satisfy the spec")
	// ErrNotReady: the guest did not signal readiness in time.
	ErrNotReady = errors.New("pod VM not ready")
	// ErrBootFailed: the guest cannot become ready (a BootFailure says why:
	// secure boot, no bootable device, no root device, a kernel panic, the
	// domain stopping). It comes wrapped with ErrNotReady.
	ErrBootFailed = errors.New("boot failed")
	// ErrRunning: the pod VM is still running.
	ErrRunning = errors.New("pod VM is running")
)
