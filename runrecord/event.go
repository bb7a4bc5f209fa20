// Package runrecord is the run record of a migration: every pipeline step
// appends a timed event (phase, VM, disk, bytes, duration, result and the
// facts the step established) to an append-only journal in the run
// directory. A rerun resumes from it and reports are rendered from it. It
// uses the standard library only, so whatever reads a run record stays
// small.
package runrecord

import "time"

// Phases of one VM's migration, in pipeline order.
const (
	PhaseDiscover = "discover"
	PhasePlan     = "plan"
	PhaseQuiesce  = "quiesce" // the source VM powered off (or left as it is) before its disks are read
	PhaseTransfer = "transfer"
	PhaseConvert  = "convert"
	PhasePackage  = "package"
	PhaseBoot     = "boot"
	PhaseReady    = "ready"
	// PhaseCheck is one post-migration check of a ready pod VM, one event
	// per check with its Check fact; it follows the pipeline and is not
	// among the timed Phases.
	PhaseCheck = "check"
	// PhaseRun marks the events of the run as a whole (no VM).
	PhaseRun = "run"
)

// Phases lists the phases in pipeline order.
func Phases() []string {
	return []string{PhaseDiscover, PhasePlan, PhaseQuiesce, PhaseTransfer, PhaseConvert, PhasePackage, PhaseBoot, PhaseReady}
}

// Event results.
const (
	ResultStarted = "started"
	ResultDone    = "done"
	ResultFailed  = "failed"
	ResultSkipped = "skipped" // already done in an earlier run (verified)
	ResultRetry   = "retry"   // a transient fault; the phase runs again
	// ResultInterrupted ends a phase the user stopped (Ctrl-C): not a
	// failure; a rerun resumes it.
	ResultInterrupted = "interrupted"
	// ResultWarning notes something the user should know that did not
	// stop the phase (Attrs["note"] says what).
	ResultWarning = "warning"
)

// Event is one line of the run record.
type Event struct {
	Time     time.Time     `json:"time"`
	VM       string        `json:"vm,omitempty"`    // pod VM name; empty for run-wide events
	Disk     string        `json:"disk,omitempty"`  // disk name within the VM, for per-disk phases
	Phase    string        `json:"phase"`           // one of the Phase* constants
	Result   string        `json:"result"`          // one of the Result* constants
	Bytes    int64         `json:"bytes,omitempty"` // bytes moved in this phase (read from the source for transfer)
	Duration time.Duration `json:"durationNs,omitempty"`
	Error    string        `json:"error,omitempty"`
	// Transfer is what a disk transfer read and wrote (its source from the
	// start on, the rest once done).
	Transfer *Transfer `json:"transfer,omitempty"`
	// Package is the image a package step built.
	Package *Package `json:"package,omitempty"`
	// Check is the outcome of a post-migration check.
	Check *Check `json:"check,omitempty"`
	// Precopy is one warm precopy round of a disk (phase precopy).
	Precopy *Precopy `json:"precopy,omitempty"`
	// Cutover is a warm migration's cutover (phase cutover).
	Cutover *Cutover `json:"cutover,omitempty"`
	// Accel is the accelerator a pod VM booted with: kvm, tcg, or the
	// platform (kubevirt) when the target chooses.
	Accel string `json:"accel,omitempty"`
	// Attrs are facts without a field of their own, e.g. the quiesce
	// action, the number of VMs of a run, a retry's attempt.
	Attrs map[string]string `json:"attrs,omitempty"`
}

// Transfer is one disk's copy into the run directory.
type Transfer struct {
	Source       string `json:"source"`                 // the spec disk's source: "[ds] dir/disk.vmdk", a file, a URL
	Target       string `json:"target,omitempty"`       // the qcow2 written
	SourceFormat string `json:"sourceFormat,omitempty"` // e.g. vmdk/streamOptimized
	// SourceMap says how the source's map was found, when its reader
	// knows: "changed block tracking: 12 areas, …" or why every block
	// was read.
	SourceMap    string `json:"sourceMap,omitempty"`
	Checksum     string `json:"checksum,omitempty"`     // digest of the guest-visible bytes, algorithm:hex
	VirtualBytes int64  `json:"virtualBytes,omitempty"` // guest-visible size
	WrittenBytes int64  `json:"writtenBytes,omitempty"` // bytes written to the target
	// Guest is what guest conversion did to the disk, when it was considered.
	Guest *GuestConversion `json:"guestConversion,omitempty"`
}

// Guest conversion results.
const (
	GuestConverted = "converted"
	GuestSkipped   = "skipped"
)

// GuestConversion is what guest conversion (virt-v2v) did to one disk.
type GuestConversion struct {
	Result           string   `json:"result"` // converted | skipped
	Reason           string   `json:"reason,omitempty"`
	Seconds          float64  `json:"seconds,omitempty"`
	Accel            string   `json:"accel,omitempty"` // of libguestfs' appliance
	Log              string   `json:"log,omitempty"`   // virt-v2v's log file
	Inspected        string   `json:"inspected,omitempty"`
	Removed          []string `json:"removed,omitempty"`
	InitramfsModules []string `json:"initramfsModules,omitempty"`
	FirstBoot        []string `json:"firstBoot,omitempty"`
	Warnings         []string `json:"warnings,omitempty"`
	Commands         []string `json:"commands,omitempty"`
}

// Package is a pod VM image built from a VM's converted disks.
type Package struct {
	Ref       string   `json:"ref"`                 // where it is: oci:DIR:TAG, docker://…@digest
	Digest    string   `json:"digest"`              // manifest digest
	Checksums []string `json:"checksums,omitempty"` // of the disks it holds, in order
	Spec      string   `json:"spec,omitempty"`      // hash of the spec it carries
}

// Check outcomes: a skipped check could not run where the pod VM is (the
// reason says why), which is neither a pass nor a failure.
const (
	CheckPassed  = "passed"
	CheckFailed  = "failed"
	CheckSkipped = "skipped"
)

// Check is one post-migration check of a pod VM.
type Check struct {
	Check    string `json:"check"`             // as the plan gives it: tcp:22, ping, http://:8080/health=200
	Outcome  string `json:"outcome"`           // passed | failed | skipped
	Target   string `json:"target,omitempty"`  // what was probed: host:port, IP, URL
	Address  string `json:"address,omitempty"` // how the pod VM was reached
	Detail   string `json:"detail,omitempty"`  // what passed, why it failed or was skipped
	Attempts int    `json:"attempts,omitempty"`
}
