// Package podvm defines the pod VM spec: what a migrated VM boots as
// (firmware, CPU topology, memory, disks, NICs, compatibility mode). The
// plan writes it, pod VM images carry it, and the runtime and KubeVirt read
// it. It depends on nothing but the standard library.
package podvm

import (
	"fmt"
	"net"
	"regexp"
	"strings"
)

// Firmware types.
const (
	FirmwareBIOS = "bios"
	FirmwareEFI  = "efi"
)

// Compatibility modes: virtio devices for guests with virtio drivers, SATA
// disks and e1000e NICs for guests without (Windows before drivers are added).
const (
	ModeVirtio = "virtio"
	ModeCompat = "compat"
)

// Disk buses and NIC models a pod VM can use.
const (
	BusVirtio = "virtio"
	BusSATA   = "sata"
	BusSCSI   = "scsi" // virtio-scsi
	BusIDE    = "ide"

	NICVirtio = "virtio"
	NICE1000E = "e1000e"
)

// Spec is everything a pod VM boots with. The runtime and KubeVirt read it
// from the plan or from a pod VM image's annotation; it says nothing about
// where it came from beyond Source.
type Spec struct {
	Name        string    `json:"name"`                  // DNS-1123 label, the pod VM's name
	Source      SourceRef `json:"source"`                // the VMware VM it was planned from
	Guest       Guest     `json:"guest"`                 // operating system facts
	Firmware    Firmware  `json:"firmware"`              // bios or efi, secure boot, SMM
	TPM         bool      `json:"tpm,omitempty"`         // give the pod VM a vTPM
	CPU         CPU       `json:"cpu"`                   // topology
	MemoryMiB   int64     `json:"memoryMiB"`             // guest RAM
	MachineType string    `json:"machineType,omitempty"` // q35 (default) or pc
	Mode        string    `json:"mode"`                  // virtio | compat
	Disks       []Disk    `json:"disks"`                 // in boot order: the first disk boots
	NICs        []NIC     `json:"nics,omitempty"`
}

// SourceRef traces a pod VM back to its VMware VM.
type SourceRef struct {
	VCenter      string `json:"vcenter,omitempty"`      // vCenter or ESXi host name; empty for files
	Moref        string `json:"moref,omitempty"`        // e.g. vm-42
	Host         string `json:"host,omitempty"`         // ESXi host the VM ran on, to bound the load on each host
	Datacenter   string `json:"datacenter,omitempty"`   // its datacenter, to find its datastores
	InstanceUUID string `json:"instanceUUID,omitempty"` // vSphere instance UUID
	BIOSUUID     string `json:"biosUUID,omitempty"`     // SMBIOS UUID, kept so licences tied to it survive
	Name         string `json:"name"`                   // the VM's name in vSphere
	File         string `json:"file,omitempty"`         // .vmx/.ovf/.ova it came from, if offline
}

// Guest describes the guest operating system.
type Guest struct {
	OSID     string `json:"osID,omitempty"`     // vSphere guestId, e.g. debian12_64Guest
	Family   string `json:"family,omitempty"`   // linux | windows | other
	FullName string `json:"fullName,omitempty"` // e.g. "Debian GNU/Linux 12 (64-bit)"
	Hostname string `json:"hostname,omitempty"`
}

// Firmware is how the pod VM boots.
type Firmware struct {
	Type       string `json:"type"`                 // bios | efi
	SecureBoot bool   `json:"secureBoot,omitempty"` // needs OVMF secure-boot firmware and SMM
	SMM        bool   `json:"smm,omitempty"`
}

// CPU is the virtual CPU topology.
type CPU struct {
	Sockets int `json:"sockets"`
	Cores   int `json:"cores"`   // per socket
	Threads int `json:"threads"` // per core
}

// VCPUs is the total number of virtual CPUs.
func (c CPU) VCPUs() int { return c.Sockets * c.Cores * c.Threads }

// Disk is one pod VM disk.
type Disk struct {
	Name          string `json:"name"`                   // DNS-1123, unique in the spec, e.g. disk0
	Bus           string `json:"bus"`                    // virtio | sata | scsi | ide
	CapacityBytes int64  `json:"capacityBytes"`          // guest-visible size; 0 when the source did not say (the disk's own size is used)
	Source        string `json:"source,omitempty"`       // source disk: "[datastore] vm/vm.vmdk" or a file path
	SourceKey     int32  `json:"sourceKey,omitempty"`    // vSphere device key of the source disk
	File          string `json:"file,omitempty"`         // file name in a pod VM image, e.g. disk0.qcow2
	Cache         string `json:"cache,omitempty"`        // none | writeback | writethrough; empty: runtime default
	StorageClass  string `json:"storageClass,omitempty"` // from the storage map, for KubeVirt volumes
}

// NIC is one pod VM network interface.
type NIC struct {
	Name    string `json:"name"`              // DNS-1123, unique in the spec, e.g. nic0
	Model   string `json:"model"`             // virtio | e1000e
	MAC     string `json:"mac,omitempty"`     // kept from the source VM
	Network string `json:"network,omitempty"` // target network from the network map; "pod" for the pod network
}

// DiskBus is the disk bus a compatibility mode uses.
func DiskBus(mode string) string {
	if mode == ModeCompat {
		return BusSATA
	}
	return BusVirtio
}

// NICModel is the NIC model a compatibility mode uses.
func NICModel(mode string) string {
	if mode == ModeCompat {
		return NICE1000E
	}
	return NICVirtio
}

var dns1123Label = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// IsDNS1123Label reports whether s is a valid Kubernetes object name label.
func IsDNS1123Label(s string) bool { return len(s) <= 63 && dns1123Label.MatchString(s) }

// Validate reports the first field of the spec that no runtime could honour,
// naming it, e.g. "disks[1].bus".
func (s *Spec) Validate() error {
	bad := func(field, format string, a ...any) error {
		return fmt.Errorf("spec %q: %s: %s", s.Name, field, fmt.Sprintf(format, a...))
	}
	if !IsDNS1123Label(s.Name) {
		return bad("name", "%q is not a DNS-1123 label (lower case letters, digits and '-', at most 63)", s.Name)
	}
	switch s.Firmware.Type {
	case FirmwareBIOS:
		if s.Firmware.SecureBoot {
			return bad("firmware.secureBoot", "secure boot needs firmware efi")
		}
	case FirmwareEFI:
	default:
		return bad("firmware.type", "%q: want bios or efi", s.Firmware.Type)
	}
	if s.CPU.Sockets < 1 || s.CPU.Cores < 1 || s.CPU.Threads < 1 {
		return bad("cpu", "sockets, cores and threads must be at least 1, got %d/%d/%d", s.CPU.Sockets, s.CPU.Cores, s.CPU.Threads)
	}
	if s.MemoryMiB < 16 {
		return bad("memoryMiB", "%d is below 16", s.MemoryMiB)
	}
	switch s.MachineType {
	case "", "q35", "pc":
	default:
		return bad("machineType", "%q: want q35 or pc", s.MachineType)
	}
	if s.Mode != ModeVirtio && s.Mode != ModeCompat {
		return bad("mode", "%q: want virtio or compat", s.Mode)
	}
	if len(s.Disks) == 0 {
		return bad("disks", "a pod VM needs at least one disk")
	}
	names := map[string]bool{}
	for i, d := range s.Disks {
		f := fmt.Sprintf("disks[%d]", i)
		if !IsDNS1123Label(d.Name) || names[d.Name] {
			return bad(f+".name", "%q is not a unique DNS-1123 label", d.Name)
		}
		names[d.Name] = true
		switch d.Bus {
		case BusVirtio, BusSATA, BusSCSI, BusIDE:
		default:
			return bad(f+".bus", "%q: want virtio, sata, scsi or ide", d.Bus)
		}
		if d.CapacityBytes < 0 {
			return bad(f+".capacityBytes", "%d is not a disk size", d.CapacityBytes)
		}
		switch d.Cache {
		case "", "none", "writeback", "writethrough":
		default:
			return bad(f+".cache", "%q: want none, writeback or writethrough", d.Cache)
		}
	}
	macs := map[string]bool{}
	for i, n := range s.NICs {
		f := fmt.Sprintf("nics[%d]", i)
		if !IsDNS1123Label(n.Name) || names[n.Name] {
			return bad(f+".name", "%q is not a unique DNS-1123 label", n.Name)
		}
		names[n.Name] = true
		if n.Model != NICVirtio && n.Model != NICE1000E {
			return bad(f+".model", "%q: want virtio or e1000e", n.Model)
		}
		if n.MAC != "" {
			hw, err := net.ParseMAC(n.MAC)
			if err != nil || len(hw) != 6 {
				return bad(f+".mac", "%q is not a MAC address", n.MAC)
			}
			if hw[0]&1 == 1 {
				return bad(f+".mac", "%s is a multicast address", n.MAC)
			}
			key := strings.ToLower(hw.String())
			if macs[key] {
				return bad(f+".mac", "%s is used twice", n.MAC)
			}
			macs[key] = true
		}
	}
	return nil
}
