package testguest

import (
	"fmt"
	"strings"
)

// Hardware is the virtual hardware the test guest is described with in its
// VMX and OVF, as vSphere would have it.
type Hardware struct {
	Name           string
	GuestOS        string // VMX guestOS key, e.g. debian12-64
	Firmware       string // bios | efi
	SecureBoot     bool
	CPUs           int
	CoresPerSocket int
	MemoryMiB      int
	Controller     string // pvscsi | lsilogic
	MAC            string // static, in VMware's 00:50:56 range
	Network        string
	HWVersion      int
}

// DefaultHardware is the test guest's hardware for firmware bios or efi.
func DefaultHardware(firmware string) Hardware {
	return Hardware{
		Name:           "podvm-guest",
		GuestOS:        "debian12-64",
		Firmware:       firmware,
		CPUs:           2,
		CoresPerSocket: 2,
		MemoryMiB:      512,
		Controller:     "pvscsi",
		MAC:            "00:50:56:3f:00:01",
		Network:        "VM Network",
		HWVersion:      20,
	}
}

// Validate reports the first field a VMX or OVF could not carry.
func (h Hardware) Validate() error {
	switch {
	case h.Firmware != "bios" && h.Firmware != "efi":
		return fmt.Errorf("hardware: firmware %q: want bios or efi", h.Firmware)
	case h.SecureBoot && h.Firmware != "efi":
		return fmt.Errorf("hardware: secure boot needs firmware efi")
	case h.Controller != "pvscsi" && h.Controller != "lsilogic":
		return fmt.Errorf("hardware: controller %q: want pvscsi or lsilogic", h.Controller)
	case h.CPUs < 1 || h.CoresPerSocket < 1 || h.CPUs%h.CoresPerSocket != 0:
		return fmt.Errorf("hardware: %d CPUs do not divide into sockets of %d cores", h.CPUs, h.CoresPerSocket)
	case h.MemoryMiB < 128:
		return fmt.Errorf("hardware: memory %d MiB: the guest needs at least 128", h.MemoryMiB)
	}
	return nil
}

// VMX renders a .vmx file for a VM whose only disk is vmdkName.
func (h Hardware) VMX(vmdkName string) string {
	var b strings.Builder
	kv := func(k, v string) { fmt.Fprintf(&b, "%s = %q\n", k, v) }
	kv(".encoding", "UTF-8")
	kv("config.version", "8")
	kv("virtualHW.version", fmt.Sprint(h.HWVersion))
	kv("displayName", h.Name)
	kv("guestOS", h.GuestOS)
	kv("firmware", h.Firmware)
	if h.Firmware == "efi" {
		kv("uefi.secureBoot.enabled", strings.ToUpper(fmt.Sprint(h.SecureBoot)))
	}
	kv("numvcpus", fmt.Sprint(h.CPUs))
	kv("cpuid.coresPerSocket", fmt.Sprint(h.CoresPerSocket))
	kv("memSize", fmt.Sprint(h.MemoryMiB))
	kv("nvram", h.Name+".nvram")
	kv("pciBridge0.present", "TRUE")
	kv("pciBridge4.present", "TRUE")
	kv("pciBridge4.virtualDev", "pcieRootPort")
	kv("pciBridge4.functions", "8")
	kv("scsi0.present", "TRUE")
	kv("scsi0.virtualDev", h.Controller)
	kv("scsi0.pciSlotNumber", "160")
	kv("scsi0:0.present", "TRUE")
	kv("scsi0:0.deviceType", "scsi-hardDisk")
	kv("scsi0:0.fileName", vmdkName)
	kv("scsi0:0.mode", "persistent")
	kv("ethernet0.present", "TRUE")
	kv("ethernet0.virtualDev", "vmxnet3")
	kv("ethernet0.networkName", h.Network)
	kv("ethernet0.addressType", "static")
	kv("ethernet0.address", h.MAC)
	kv("ethernet0.pciSlotNumber", "192")
	kv("serial0.present", "TRUE")
	kv("serial0.fileType", "file")
	kv("serial0.fileName", "serial0.log")
	kv("tools.syncTime", "FALSE")
	kv("uuid.bios", "56 4d 50 4f 44 56 4d 2d-67 75 65 73 74 00 00 01")
	kv("vc.uuid", "52 50 4f 44 56 4d 2d 67-75 65 73 74 2d 76 63 01")
	return b.String()
}
