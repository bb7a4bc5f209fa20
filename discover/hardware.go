package discover

// Firmware is the boot firmware of a VM.
type Firmware string

// The firmwares VMware offers.
const (
	FirmwareBIOS Firmware = "bios"
	FirmwareEFI  Firmware = "efi"
)

// Hardware is a VM's virtual hardware.
type Hardware struct {
	Version        string       `json:"version,omitempty"`       // virtual hardware version, e.g. vmx-20
	Firmware       Firmware     `json:"firmware"`                // bios or efi
	SecureBoot     bool         `json:"secureBoot,omitempty"`    // UEFI secure boot enabled
	VTPM           bool         `json:"vtpm,omitempty"`          // a virtual TPM is present
	CPUs           int          `json:"cpus"`                    // virtual CPUs in total
	CoresPerSocket int          `json:"coresPerSocket"`          // cores per virtual socket (1 when unset)
	Sockets        int          `json:"sockets"`                 // CPUs / CoresPerSocket
	MemoryMiB      int64        `json:"memoryMiB"`               // guest memory in MiB
	MemoryUnknown  bool         `json:"memoryUnknown,omitempty"` // no readable memory size in the source (a .vmx without a valid memsize): MemoryMiB is a default
	CPUHotAdd      bool         `json:"cpuHotAdd,omitempty"`     // CPU hot-add enabled
	MemoryHotAdd   bool         `json:"memoryHotAdd,omitempty"`  // memory hot-add enabled
	Controllers    []Controller `json:"controllers,omitempty"`   // storage controllers, by ID
	Disks          []Disk       `json:"disks,omitempty"`         // virtual disks, in controller/unit order
	NICs           []NIC        `json:"nics,omitempty"`          // network adapters, in device order
	CDROMs         int          `json:"cdroms,omitempty"`        // CD/DVD drives (not migrated)
}

// ControllerType is the kind of a storage controller.
type ControllerType string

// The storage controllers VMware offers.
const (
	ControllerIDE         ControllerType = "ide"
	ControllerSATA        ControllerType = "sata"       // AHCI
	ControllerLSILogic    ControllerType = "lsilogic"   // SCSI LSI Logic Parallel
	ControllerLSILogicSAS ControllerType = "lsisas1068" // SCSI LSI Logic SAS
	ControllerPVSCSI      ControllerType = "pvscsi"     // SCSI VMware Paravirtual
	ControllerBusLogic    ControllerType = "buslogic"   // SCSI BusLogic
	ControllerNVMe        ControllerType = "nvme"
	ControllerUnknown     ControllerType = "unknown"
)

// Controller is one storage controller.
type Controller struct {
	ID      string         `json:"id"`                // bus name and number, e.g. scsi0, sata0, ide1, nvme0
	Type    ControllerType `json:"type"`              // see the Controller* constants
	Bus     int            `json:"bus"`               // bus number within its kind
	Sharing string         `json:"sharing,omitempty"` // SCSI bus sharing: noSharing, virtualSharing, physicalSharing
}

// DiskMode is how a disk takes part in snapshots.
type DiskMode string

// The disk modes of vSphere.
const (
	DiskPersistent            DiskMode = "persistent"
	DiskNonPersistent         DiskMode = "nonpersistent"
	DiskIndependentPersistent DiskMode = "independent_persistent"
	DiskIndependentNonPersist DiskMode = "independent_nonpersistent"
	DiskUndoable              DiskMode = "undoable"
	DiskAppend                DiskMode = "append"
)

// Provisioning is how a disk's space is allocated.
type Provisioning string

// The provisioning kinds.
const (
	ProvisionThin       Provisioning = "thin"
	ProvisionThickLazy  Provisioning = "thick" // lazily zeroed
	ProvisionThickEager Provisioning = "eagerZeroedThick"
)

// Disk is one virtual disk.
type Disk struct {
	Label         string       `json:"label,omitempty"`        // e.g. "Hard disk 1"
	Controller    string       `json:"controller"`             // Controller.ID it hangs on
	Unit          int          `json:"unit"`                   // unit number on that controller
	CapacityBytes int64        `json:"capacityBytes"`          // guest-visible size
	File          string       `json:"file,omitempty"`         // backing file: "[ds1] vm/vm.vmdk" (vSphere) or a local path (offline)
	Datastore     string       `json:"datastore,omitempty"`    // datastore name
	Chain         []string     `json:"chain,omitempty"`        // parent backing files, nearest first (snapshot deltas)
	Format        string       `json:"format,omitempty"`       // VMDK createType when known, e.g. monolithicSparse, streamOptimized, vmfs
	Mode          DiskMode     `json:"mode,omitempty"`         // persistent, independent_persistent, …
	Sharing       string       `json:"sharing,omitempty"`      // sharingNone or sharingMultiWriter
	Provisioning  Provisioning `json:"provisioning,omitempty"` // thin, thick or eagerZeroedThick
	RDM           *RDM         `json:"rdm,omitempty"`          // set for a raw device mapping
	CBT           bool         `json:"cbt,omitempty"`          // changed block tracking on for this disk
	UUID          string       `json:"uuid,omitempty"`         // the VMDK's UUID
	// CapacityUnknown is set when no descriptor or OVF element states the
	// size (CapacityBytes is then 0): the disk was inventoried from its
	// configuration alone.
	CapacityUnknown bool `json:"capacityUnknown,omitempty"`
	// SourcePath is the backing file as the configuration names it, when
	// File differs: an ESXi path (/vmfs/volumes/ds1/vm/vm.vmdk) read as
	// "[ds1] vm/vm.vmdk" or mapped to a local copy, or a host path not
	// opened on this machine.
	SourcePath string `json:"sourcePath,omitempty"`
	// Raw is set for a raw device disk: a host disk or partition, not a
	// file (VMX deviceType rawDisk, createType fullDevice or
	// partitionedDevice).
	Raw *RawDevice `json:"raw,omitempty"`
	// Blank is set for an OVF disk with no file: it holds no data and
	// CapacityBytes says how large to create it.
	Blank bool `json:"blank,omitempty"`
	// Chunks are the parts whose concatenation is File, in order, for an
	// OVF file split by ovf:chunkSize (File.000000000, File.000000001, …).
	Chunks []string `json:"chunks,omitempty"`
	// Refused says which file the disk's descriptor (or a parent's) names
	// that the copy will not read: outside the descriptor's folder and the
	// allowed paths, or a device node. Its chain is then not followed.
	Refused string `json:"refused,omitempty"`
}

// RawDevice describes a raw device disk of a hosted product (Workstation,
// Fusion): the guest sees a host disk or some of its partitions.
type RawDevice struct {
	Kind   string `json:"kind"`             // rawDisk (VMX deviceType), fullDevice or partitionedDevice (descriptor createType)
	Device string `json:"device,omitempty"` // host device as named, e.g. /dev/sdb or \\.\PhysicalDrive1
}

// RDM describes a raw device mapping: a disk that is a host LUN.
type RDM struct {
	Compatibility string `json:"compatibility"`     // physicalMode or virtualMode
	Device        string `json:"device,omitempty"`  // host device name, e.g. /vmfs/devices/disks/naa.…
	LUNUUID       string `json:"lunUUID,omitempty"` // the LUN's UUID
}

// NIC is one network adapter.
type NIC struct {
	Label          string `json:"label,omitempty"`       // e.g. "Network adapter 1"
	Model          string `json:"model"`                 // e1000, e1000e, vmxnet, vmxnet2, vmxnet3, vlance, sriov, unknown
	MAC            string `json:"mac,omitempty"`         // lower case, colon separated
	AddressType    string `json:"addressType,omitempty"` // static, generated (vpx) or assigned
	Network        string `json:"network,omitempty"`     // network or port group name
	NetworkID      string `json:"networkId,omitempty"`   // network moref or distributed port group key
	Connected      bool   `json:"connected"`             // connected now
	StartConnected bool   `json:"startConnected"`        // connects at power on
}
