package discover

import "time"

// PowerState is a VM's power state, with vSphere's names.
type PowerState string

// The power states.
const (
	PoweredOn  PowerState = "poweredOn"
	PoweredOff PowerState = "poweredOff"
	Suspended  PowerState = "suspended"
)

// State is the runtime state of a VM and what ties it to its host.
type State struct {
	Power               PowerState `json:"power,omitempty"`               // poweredOn, poweredOff or suspended; empty when unknown (offline files)
	Snapshots           []Snapshot `json:"snapshots,omitempty"`           // every snapshot, parents before children
	CurrentSnapshot     string     `json:"currentSnapshot,omitempty"`     // Path of the snapshot the VM runs from
	ConsolidationNeeded bool       `json:"consolidationNeeded,omitempty"` // disks need consolidating
	CBT                 bool       `json:"cbt,omitempty"`                 // changed block tracking on for the VM
	FaultTolerance      string     `json:"faultTolerance,omitempty"`      // FT state other than notConfigured, e.g. running
	Devices             []Device   `json:"devices,omitempty"`             // passthrough, SR-IOV, USB and other host-bound devices
	CPUAffinity         []int      `json:"cpuAffinity,omitempty"`         // physical CPUs the VM is pinned to
	HostAffinity        []string   `json:"hostAffinity,omitempty"`        // hosts a DRS rule or a local device binds it to
	ConnectionState     string     `json:"connectionState,omitempty"`     // connected, disconnected, orphaned, inaccessible, invalid
	NUMAAffinity        []int      `json:"numaAffinity,omitempty"`        // host NUMA nodes the VM is pinned to (numa.nodeAffinity)
	Cluster             *Cluster   `json:"cluster,omitempty"`             // the services of the VM's cluster, when it has one
}

// Cluster is what the VM's vSphere cluster does for it that a pod VM
// platform does differently.
type Cluster struct {
	DRS bool `json:"drs,omitempty"` // DRS balances and places VMs
	HA  bool `json:"ha,omitempty"`  // vSphere HA restarts VMs of failed hosts
	DPM bool `json:"dpm,omitempty"` // DPM powers hosts down
}

// Snapshot is one snapshot in a VM's tree.
type Snapshot struct {
	Name     string    `json:"name"`
	Path     string    `json:"path"`              // names from the root, joined by "/"
	Created  time.Time `json:"created,omitempty"` // creation time
	Quiesced bool      `json:"quiesced,omitempty"`
	Memory   bool      `json:"memory,omitempty"` // powered-on snapshot with memory (PowerState poweredOn)
}

// DeviceKind classifies a device that ties a VM to its host.
type DeviceKind string

// The device kinds reported in State.Devices.
const (
	DevicePCIPassthrough  DeviceKind = "pciPassthrough"
	DeviceSRIOV           DeviceKind = "sriov"
	DeviceUSB             DeviceKind = "usb"           // a USB device attached to the VM
	DeviceUSBController   DeviceKind = "usbController" // USB 2 (ehci) or 3 (xhci) controller
	DeviceSerial          DeviceKind = "serial"
	DeviceParallel        DeviceKind = "parallel"
	DeviceVGPU            DeviceKind = "vgpu"
	DeviceFloppy          DeviceKind = "floppy"          // a floppy drive, image or host drive
	DeviceSCSIPassthrough DeviceKind = "scsiPassthrough" // a host SCSI device (tape, changer, CD-ROM) passed through
	DeviceOther           DeviceKind = "other"
)

// Device is one device a migration must think about.
type Device struct {
	Kind   DeviceKind `json:"kind"`
	Label  string     `json:"label,omitempty"`  // e.g. "USB controller", "PCI device 0"
	Detail string     `json:"detail,omitempty"` // backing: PCI id, USB path, serial file, pipe or URI, …
	// Backing says what a port's or floppy's Detail names: file, pipe,
	// network (a URI), device (a host device), or empty when unknown.
	Backing string `json:"backing,omitempty"`
}

// The backings of serial and parallel ports and floppy drives.
const (
	BackingFile    = "file"
	BackingPipe    = "pipe"
	BackingNetwork = "network"
	BackingDevice  = "device"
)
