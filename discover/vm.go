package discover

// VM is one virtual machine as discovery found it. Fields a source cannot
// know are left empty (zero) and omitted from the document.
type VM struct {
	Name     string    `json:"name"`     // display name
	Identity Identity  `json:"identity"` // UUIDs and where the VM sits in the vSphere inventory
	Source   SourceRef `json:"source"`   // where it was discovered
	Guest    Guest     `json:"guest"`    // what runs inside, as the guest tools report it
	Hardware Hardware  `json:"hardware"` // the virtual hardware
	State    State     `json:"state"`    // power, snapshots and what pins the VM to VMware
	// Warnings are the problems met reading the VM's files (a missing disk,
	// an unknown encoding, an item skipped); the VM was inventoried as far
	// as its configuration allows.
	Warnings []string `json:"warnings,omitempty"`
}

// Identity names the VM uniquely and places it in the vSphere inventory.
type Identity struct {
	InstanceUUID  string `json:"instanceUUID,omitempty"`  // vCenter instance UUID (vc.uuid in a VMX)
	BIOSUUID      string `json:"biosUUID,omitempty"`      // SMBIOS UUID the guest sees (uuid.bios in a VMX)
	MoRef         string `json:"moref,omitempty"`         // managed object id, e.g. vm-42
	InventoryPath string `json:"inventoryPath,omitempty"` // e.g. /DC0/vm/apps/web01
	Folder        string `json:"folder,omitempty"`        // inventory path of the VM's folder, e.g. /DC0/vm/apps
	Datacenter    string `json:"datacenter,omitempty"`    // datacenter name
	Cluster       string `json:"cluster,omitempty"`       // compute cluster name; empty on a standalone host
	Host          string `json:"host,omitempty"`          // ESXi host name the VM is registered on
	ResourcePool  string `json:"resourcePool,omitempty"`  // inventory path of its resource pool
	VMXPath       string `json:"vmxPath,omitempty"`       // datastore path of the .vmx, e.g. "[ds1] web01/web01.vmx"
	Template      bool   `json:"template,omitempty"`      // a vSphere template, not a runnable VM
}

// SourceKind says which kind of source found a VM.
type SourceKind string

// The source kinds.
const (
	SourceVSphere SourceKind = "vsphere"
	SourceVMX     SourceKind = "vmx"
	SourceOVF     SourceKind = "ovf"
	SourceOVA     SourceKind = "ova"
)

// SourceRef holds the coordinates to find the VM (and read its disks) again.
type SourceRef struct {
	Kind     SourceKind `json:"kind"`               // vsphere, vmx, ovf or ova
	Endpoint string     `json:"endpoint,omitempty"` // vSphere: the SDK URL, never with credentials
	Path     string     `json:"path,omitempty"`     // vmx/ovf/ova: the file discovered
	Member   string     `json:"member,omitempty"`   // ova: the .ovf member inside the archive
}

// Guest is what the guest OS and its tools report.
type Guest struct {
	GuestID            string      `json:"guestId,omitempty"`            // vSphere guest id, e.g. debian12_64Guest
	FullName           string      `json:"fullName,omitempty"`           // e.g. "Debian GNU/Linux 12 (64-bit)"
	Family             string      `json:"family,omitempty"`             // linuxGuest, windowsGuest, …
	Hostname           string      `json:"hostname,omitempty"`           // guest host name
	IPAddresses        []string    `json:"ipAddresses,omitempty"`        // every IP the tools report, primary first
	ToolsStatus        string      `json:"toolsStatus,omitempty"`        // toolsOk, toolsOld, toolsNotRunning, toolsNotInstalled
	ToolsRunningStatus string      `json:"toolsRunningStatus,omitempty"` // guestToolsRunning, guestToolsNotRunning, …
	ToolsVersion       string      `json:"toolsVersion,omitempty"`       // tools build number
	Disks              []GuestDisk `json:"disks,omitempty"`              // mounted file systems with free space
}

// GuestDisk is one file system mounted in the guest.
type GuestDisk struct {
	Path           string `json:"path"`                     // mount point or drive, e.g. / or C:\
	FilesystemType string `json:"filesystemType,omitempty"` // ext4, NTFS, …
	CapacityBytes  int64  `json:"capacityBytes"`
	FreeBytes      int64  `json:"freeBytes"`
}
