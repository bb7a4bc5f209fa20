package runrecord

import "time"

// Phases of a warm migration: precopy rounds while the source VM runs, then
// the cutover. They come before transfer, whose done event still carries
// each disk's checksum once the cutover's final delta is in.
const (
	// PhasePrecopy is one precopy round of one disk: a Precopy event per
	// disk and round.
	PhasePrecopy = "precopy"
	// PhaseCutover is the cutover of one VM: its source shut down and the
	// final delta copied.
	PhaseCutover = "cutover"
)

// Precopy is one round of changed areas copied from a frozen snapshot
// into the target disk.
type Precopy struct {
	Round    int    `json:"round"`              // 1 for the first (full) copy
	ChangeID string `json:"changeId"`           // the CBT change id the next round starts from
	Since    string `json:"since,omitempty"`    // the change id this round started from; "*" for a full copy
	Target   string `json:"target"`             // the qcow2 updated in place
	Areas    int    `json:"areas,omitempty"`    // changed areas vCenter reported
	Final    bool   `json:"final,omitempty"`    // the cutover's round, with the source off
	Restart  string `json:"restart,omitempty"`  // why the disk was copied in full again
	Snapshot string `json:"snapshot,omitempty"` // the snapshot the round read
}

// Cutover is one VM's switch from the running source to the pod VM.
type Cutover struct {
	// Reason is what started it: rounds, time or request.
	Reason string `json:"reason"`
	// ShutdownAt is when the source's shutdown was asked for: the start of
	// the VM's downtime, which ends when the pod VM is ready.
	ShutdownAt time.Time `json:"shutdownAt"`
	// Shutdown is what the shutdown did (guest shut down, powered off).
	Shutdown string `json:"shutdown,omitempty"`
	Rounds   int    `json:"rounds"`               // precopy rounds before the final one
	Final    int64  `json:"finalBytes,omitempty"` // bytes of the final delta
	// Where the cutover's time went: the shutdown, the final round, and the
	// checksums and guest conversion of the finished disks.
	ShutdownTime time.Duration `json:"shutdownNs,omitempty"`
	FinalTime    time.Duration `json:"finalNs,omitempty"`
	FinishTime   time.Duration `json:"finishNs,omitempty"`
}
