package runtime

import (
	"fmt"
	"strings"

	"libvirt.org/go/libvirtxml"

	"github.com/podvm-migrate/podvm-migrate/podvm"
)

// DomainPrefix starts the libvirt name of every pod VM domain.
const DomainPrefix = "podvm-"

// domainParams is everything the domain XML is made of.
type domainParams struct {
	Domain   string // libvirt name
	Type     string // kvm | qemu
	Emulator string // QEMU binary from the domain capabilities; empty: libvirt's default
	Spec     *podvm.Spec
	Disks    []string   // overlay per spec disk, in order
	Bases    []baseDisk // what each overlay sits on; a slice is given as its backingStore
	OVMF     *ovmf
	NVRAM    string
	BIOSROM  string // a BIOS image instead of SeaBIOS (qboot, for direct kernel boot)
	Kernel   string // direct kernel boot
	Initrd   string
	Cmdline  string
	Serial   string // serial console log file
	Publish  []PortForward
	UUID     string // domain (and so SMBIOS) UUID; empty: libvirt makes one
	Meta     podMeta
}

// machineType is the spec's QEMU machine type, q35 unless it names one.
func machineType(s *podvm.Spec) string {
	if s.MachineType == "" {
		return "q35"
	}
	return s.MachineType
}

// isI440FX tells the pc machines (PCI root bus pci.0, IDE) from q35.
func isI440FX(machine string) bool {
	return machine == "pc" || strings.HasPrefix(machine, "pc-i440fx")
}

// domainXMLFor renders the libvirt domain of a pod VM.
func domainXMLFor(p domainParams) (string, error) {
	d, err := newDomain(p)
	if err != nil {
		return "", err
	}
	x, err := d.Marshal()
	if err != nil {
		return "", fmt.Errorf("domain %s: %w", p.Domain, err)
	}
	return x, nil
}

// newDomain builds the libvirt domain of a pod VM.
func newDomain(p domainParams) (*libvirtxml.Domain, error) {
	s := p.Spec
	meta, err := p.Meta.metadata()
	if err != nil {
		return nil, fmt.Errorf("domain %s: %w", p.Domain, err)
	}
	dos, err := domainOS(p)
	if err != nil {
		return nil, err
	}
	d := &libvirtxml.Domain{
		Type:     p.Type,
		Name:     p.Domain,
		UUID:     p.UUID,
		Metadata: meta,
		Memory:   &libvirtxml.DomainMemory{Value: uint(s.MemoryMiB), Unit: "MiB"},
		VCPU:     &libvirtxml.DomainVCPU{Value: uint(s.CPU.VCPUs())},
		OS:       dos,
		Features: &libvirtxml.DomainFeatureList{ACPI: &libvirtxml.DomainFeature{}, APIC: &libvirtxml.DomainFeatureAPIC{}},
		CPU: &libvirtxml.DomainCPU{Topology: &libvirtxml.DomainCPUTopology{
			Sockets: s.CPU.Sockets, Dies: 1, Cores: s.CPU.Cores, Threads: s.CPU.Threads}},
		OnPoweroff: "destroy",
		OnReboot:   "restart",
		OnCrash:    "destroy",
	}
	if p.Type == "kvm" {
		d.CPU.Mode, d.CPU.Check = "host-passthrough", "none"
	}
	if s.Firmware.SMM || s.Firmware.SecureBoot {
		d.Features.SMM = &libvirtxml.DomainFeatureSMM{State: "on"}
	}
	if d.Devices, d.QEMUCommandline, err = devices(p); err != nil {
		return nil, err
	}
	return d, nil
}

// domainOS is the machine, the firmware (SeaBIOS by default, OVMF for
// EFI, a BIOS ROM such as qboot) and the kernel of a direct boot.
func domainOS(p domainParams) (*libvirtxml.DomainOS, error) {
	s := p.Spec
	o := &libvirtxml.DomainOS{Type: &libvirtxml.DomainOSType{Arch: "x86_64", Machine: machineType(s), Type: "hvm"}}
	switch {
	case s.Firmware.Type == podvm.FirmwareEFI:
		if p.OVMF == nil {
			return nil, fmt.Errorf("domain %s: %w: efi firmware not found", p.Domain, ErrUnsatisfiable)
		}
		secure := "no"
		if p.OVMF.Secure {
			secure = "yes"
		}
		o.Loader = &libvirtxml.DomainLoader{Path: p.OVMF.Code, Readonly: "yes", Secure: secure, Type: "pflash"}
		o.NVRam = &libvirtxml.DomainNVRam{NVRam: p.NVRAM, Template: p.OVMF.Vars}
	case p.BIOSROM != "":
		o.Loader = &libvirtxml.DomainLoader{Path: p.BIOSROM, Readonly: "yes", Type: "rom"}
	default:
		// SeaBIOS prints to the serial console too ("No bootable
		// device"), so boot diagnosis can read it.
		o.BIOS = &libvirtxml.DomainBIOS{UseSerial: "yes"}
	}
	if p.Kernel != "" {
		o.Kernel, o.Initrd, o.Cmdline = p.Kernel, p.Initrd, p.Cmdline
	}
	return o, nil
}
