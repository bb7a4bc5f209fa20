package runtime

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strings"

	"github.com/podvm-migrate/podvm-migrate/podvm"
)

// MetadataNS names the libvirt metadata element that marks our domains.
const MetadataNS = "https://github.com/podvm-migrate/podvm-migrate/runtime/v1"

// DomainPrefix starts the libvirt name of every pod VM domain.
const DomainPrefix = "podvm-"

// domainParams is everything the domain XML is made of.
type domainParams struct {
	Domain  string // libvirt name
	Type    string // kvm | qemu
	Spec    *podvm.Spec
	Disks   []string // overlay per spec disk, in order
	OVMF    *ovmf
	NVRAM   string
	BIOSROM string // a BIOS image instead of SeaBIOS (qboot, for direct kernel boot)
	Kernel  string // direct kernel boot
	Initrd  string
	Cmdline string
	Serial  string // serial console log file
	Publish []PortForward
	Agent   bool   // add the qemu-guest-agent channel
	UUID    string // domain (and so SMBIOS) UUID; empty: libvirt makes one
	Meta    podMeta
}

// podMeta is what the metadata element records about a pod VM.
type podMeta struct {
	XMLName xml.Name `xml:"pod"`
	Name    string   `xml:"name"`
	Image   string   `xml:"image"`
	Accel   string   `xml:"accel"`
	Reason  string   `xml:"accelReason"`
	Started string   `xml:"started"`
	State   string   `xml:"stateDir"`
}

// element renders the metadata element in our namespace.
func (m podMeta) element() string {
	var b strings.Builder
	b.WriteString(`<podvm:pod xmlns:podvm="` + MetadataNS + `">`)
	for _, f := range [][2]string{{"name", m.Name}, {"image", m.Image}, {"accel", m.Accel},
		{"accelReason", m.Reason}, {"started", m.Started}, {"stateDir", m.State}} {
		b.WriteString("<podvm:" + f[0] + ">")
		_ = xml.EscapeText(&b, []byte(f[1]))
		b.WriteString("</podvm:" + f[0] + ">")
	}
	b.WriteString("</podvm:pod>")
	return b.String()
}

type domainXML struct {
	XMLName   xml.Name      `xml:"domain"`
	Type      string        `xml:"type,attr"`
	QemuNS    string        `xml:"xmlns:qemu,attr,omitempty"`
	Name      string        `xml:"name"`
	UUID      string        `xml:"uuid,omitempty"`
	Metadata  innerXML      `xml:"metadata"`
	Memory    unitValue     `xml:"memory"`
	VCPU      int           `xml:"vcpu"`
	OS        osXML         `xml:"os"`
	Features  featuresXML   `xml:"features"`
	CPU       cpuXML        `xml:"cpu"`
	OnPowerof string        `xml:"on_poweroff"`
	OnReboot  string        `xml:"on_reboot"`
	OnCrash   string        `xml:"on_crash"`
	Devices   devicesXML    `xml:"devices"`
	QemuCmd   *qemuCmdlineX `xml:"qemu:commandline,omitempty"`
}

type innerXML struct {
	Inner string `xml:",innerxml"`
}

type unitValue struct {
	Unit  string `xml:"unit,attr"`
	Value int64  `xml:",chardata"`
}

type osXML struct {
	Type    osType   `xml:"type"`
	Loader  *loader  `xml:"loader,omitempty"`
	NVRAM   *nvram   `xml:"nvram,omitempty"`
	Kernel  string   `xml:"kernel,omitempty"`
	Initrd  string   `xml:"initrd,omitempty"`
	Cmdline string   `xml:"cmdline,omitempty"`
	BIOS    *biosXML `xml:"bios,omitempty"`
}

type osType struct {
	Arch    string `xml:"arch,attr"`
	Machine string `xml:"machine,attr"`
	Value   string `xml:",chardata"`
}

type loader struct {
	ReadOnly string `xml:"readonly,attr"`
	Secure   string `xml:"secure,attr,omitempty"`
	Type     string `xml:"type,attr"`
	Path     string `xml:",chardata"`
}

type nvram struct {
	Template string `xml:"template,attr"`
	Path     string `xml:",chardata"`
}

type biosXML struct {
	UseSerial string `xml:"useserial,attr"`
}

type featuresXML struct {
	ACPI *struct{} `xml:"acpi"`
	APIC *struct{} `xml:"apic"`
	SMM  *stateXML `xml:"smm,omitempty"`
}

type stateXML struct {
	State string `xml:"state,attr"`
}

type cpuXML struct {
	Mode     string      `xml:"mode,attr,omitempty"`
	Check    string      `xml:"check,attr,omitempty"`
	Topology topologyXML `xml:"topology"`
}

type topologyXML struct {
	Sockets int `xml:"sockets,attr"`
	Dies    int `xml:"dies,attr"`
	Cores   int `xml:"cores,attr"`
	Threads int `xml:"threads,attr"`
}

type devicesXML struct {
	Emulator    string          `xml:"emulator"`
	Disks       []diskXML       `xml:"disk"`
	Controllers []controllerXML `xml:"controller"`
	Interfaces  []interfaceXML  `xml:"interface"`
	Serial      serialXML       `xml:"serial"`
	Channels    []channelXML    `xml:"channel"`
	Memballoon  modelXML        `xml:"memballoon"`
}

type diskXML struct {
	Type    string      `xml:"type,attr"`
	Device  string      `xml:"device,attr"`
	Driver  driverXML   `xml:"driver"`
	Source  sourceFile  `xml:"source"`
	Target  targetXML   `xml:"target"`
	Boot    *bootOrder  `xml:"boot,omitempty"`
	Address *addressXML `xml:"address,omitempty"`
}

// addressXML is a PCI address on the root bus.
type addressXML struct {
	Type     string `xml:"type,attr"`
	Domain   string `xml:"domain,attr"`
	Bus      string `xml:"bus,attr"`
	Slot     string `xml:"slot,attr"`
	Function string `xml:"function,attr"`
}

// rootSlots hands out slots on the root bus (pcie.0 or pci.0): devices
// there need no PCIe root ports, which SeaBIOS would otherwise have to walk
// (slower under TCG). Slot 0x10 is kept for a NIC on QEMU's command line.
type rootSlots struct{ next int }

func (r *rootSlots) take() *addressXML {
	if r.next < 2 {
		r.next = 2
	}
	if r.next == nicSlot {
		r.next++
	}
	a := &addressXML{Type: "pci", Domain: "0x0000", Bus: "0x00", Slot: fmt.Sprintf("0x%02x", r.next), Function: "0x0"}
	r.next++
	return a
}

// nicSlot is the root-bus slot of a NIC given on QEMU's command line.
const nicSlot = 0x10

type driverXML struct {
	Name  string `xml:"name,attr"`
	Type  string `xml:"type,attr"`
	Cache string `xml:"cache,attr,omitempty"`
}

type sourceFile struct {
	File string `xml:"file,attr"`
}

type targetXML struct {
	Dev string `xml:"dev,attr"`
	Bus string `xml:"bus,attr"`
}

type bootOrder struct {
	Order int `xml:"order,attr"`
}

type controllerXML struct {
	Type    string      `xml:"type,attr"`
	Model   string      `xml:"model,attr"`
	Address *addressXML `xml:"address,omitempty"`
}

type interfaceXML struct {
	Type    string      `xml:"type,attr"`
	MAC     *macXML     `xml:"mac,omitempty"`
	Model   modelTypeXM `xml:"model"`
	Address *addressXML `xml:"address,omitempty"`
}

type macXML struct {
	Address string `xml:"address,attr"`
}

type modelTypeXM struct {
	Type string `xml:"type,attr"`
}

type modelXML struct {
	Model string `xml:"model,attr"`
}

type serialXML struct {
	Type   string     `xml:"type,attr"`
	Source serialPath `xml:"source"`
	Target portXML    `xml:"target"`
}

type serialPath struct {
	Path   string `xml:"path,attr"`
	Append string `xml:"append,attr"`
}

type portXML struct {
	Port int `xml:"port,attr"`
}

type channelXML struct {
	Type   string        `xml:"type,attr"`
	Target channelTarget `xml:"target"`
}

type channelTarget struct {
	Type string `xml:"type,attr"`
	Name string `xml:"name,attr"`
}

type qemuCmdlineX struct {
	Args []qemuArg `xml:"qemu:arg"`
}

type qemuArg struct {
	Value string `xml:"value,attr"`
}

// domainXMLFor renders the libvirt domain of a pod VM.
func domainXMLFor(p domainParams) (string, error) {
	s := p.Spec
	machine := s.MachineType
	if machine == "" {
		machine = "q35"
	}
	d := domainXML{
		Type:      p.Type,
		Name:      p.Domain,
		UUID:      p.UUID,
		Memory:    unitValue{Unit: "MiB", Value: s.MemoryMiB},
		VCPU:      s.CPU.VCPUs(),
		OS:        osXML{Type: osType{Arch: "x86_64", Machine: machine, Value: "hvm"}},
		Features:  featuresXML{ACPI: &struct{}{}, APIC: &struct{}{}},
		CPU:       cpuXML{Topology: topologyXML{Sockets: s.CPU.Sockets, Dies: 1, Cores: s.CPU.Cores, Threads: s.CPU.Threads}},
		OnPowerof: "destroy",
		OnReboot:  "restart",
		OnCrash:   "destroy",
	}
	if p.Type == "kvm" {
		d.CPU.Mode, d.CPU.Check = "host-passthrough", "none"
	}
	d.Metadata.Inner = p.Meta.element()

	if s.Firmware.Type == podvm.FirmwareEFI {
		if p.OVMF == nil {
			return "", fmt.Errorf("domain %s: %w: efi firmware not found", p.Domain, ErrUnsatisfiable)
		}
		secure := "no"
		if p.OVMF.Secure {
			secure = "yes"
		}
		d.OS.Loader = &loader{ReadOnly: "yes", Secure: secure, Type: "pflash", Path: p.OVMF.Code}
		d.OS.NVRAM = &nvram{Template: p.OVMF.Vars, Path: p.NVRAM}
	}
	if p.BIOSROM != "" && s.Firmware.Type != podvm.FirmwareEFI {
		d.OS.Loader = &loader{ReadOnly: "yes", Type: "rom", Path: p.BIOSROM}
	}
	if s.Firmware.SMM || s.Firmware.SecureBoot {
		d.Features.SMM = &stateXML{State: "on"}
	}
	if p.Kernel != "" {
		d.OS.Kernel, d.OS.Initrd, d.OS.Cmdline = p.Kernel, p.Initrd, p.Cmdline
	}
	dev := &d.Devices
	dev.Emulator = "/usr/bin/qemu-system-x86_64"
	slots := &rootSlots{}
	counters := map[string]int{}
	scsi := false
	for i, sd := range s.Disks {
		bus := sd.Bus
		if bus == podvm.BusIDE && machine != "pc" && !strings.HasPrefix(machine, "pc-i440fx") {
			bus = podvm.BusSATA // q35 has no IDE controller; AHCI is what it offers
		}
		prefix := map[string]string{podvm.BusVirtio: "vd", podvm.BusSATA: "sd", podvm.BusSCSI: "sd", podvm.BusIDE: "hd"}[bus]
		n := counters[prefix]
		counters[prefix]++
		if bus == podvm.BusSCSI {
			scsi = true
		}
		cache := sd.Cache
		disk := diskXML{Type: "file", Device: "disk",
			Driver: driverXML{Name: "qemu", Type: "qcow2", Cache: cache},
			Source: sourceFile{File: p.Disks[i]},
			Target: targetXML{Dev: prefix + string(rune('a'+n)), Bus: bus}}
		if i == 0 && p.Kernel == "" {
			disk.Boot = &bootOrder{Order: 1}
		}
		if bus == podvm.BusVirtio {
			disk.Address = slots.take()
		}
		dev.Disks = append(dev.Disks, disk)
	}
	if scsi {
		dev.Controllers = append(dev.Controllers, controllerXML{Type: "scsi", Model: "virtio-scsi", Address: slots.take()})
	}
	dev.Controllers = append(dev.Controllers, controllerXML{Type: "usb", Model: "none"})
	var args []string
	for i, n := range s.NICs {
		model := n.Model
		if model == podvm.NICE1000E {
			model = "e1000e"
		}
		if i == 0 && len(p.Publish) > 0 {
			// libvirt forwards ports only with the passt backend; QEMU's own
			// user networking does it with hostfwd.
			netdev := "user,id=podvmnet0"
			for _, f := range p.Publish {
				netdev += ",hostfwd=" + f.hostfwd()
			}
			// A fixed slot on the root bus that libvirt's own allocation
			// (root ports from slot 1 up) does not reach.
			bus := "pcie.0"
			if machine == "pc" || strings.HasPrefix(machine, "pc-i440fx") {
				bus = "pci.0"
			}
			device := map[string]string{"virtio": "virtio-net-pci", "e1000e": "e1000e"}[model] + ",netdev=podvmnet0,bus=" + bus + fmt.Sprintf(",addr=0x%x", nicSlot)
			if n.MAC != "" {
				device += ",mac=" + strings.ToLower(n.MAC)
			}
			args = append(args, "-netdev", netdev, "-device", device)
			continue
		}
		iface := interfaceXML{Type: "user", Model: modelTypeXM{Type: model}, Address: slots.take()}
		if n.MAC != "" {
			iface.MAC = &macXML{Address: strings.ToLower(n.MAC)}
		}
		dev.Interfaces = append(dev.Interfaces, iface)
	}
	if len(args) > 0 {
		d.QemuNS = "http://libvirt.org/schemas/domain/qemu/1.0"
		d.QemuCmd = &qemuCmdlineX{}
		for _, a := range args {
			d.QemuCmd.Args = append(d.QemuCmd.Args, qemuArg{Value: a})
		}
	}
	dev.Serial = serialXML{Type: "file", Source: serialPath{Path: p.Serial, Append: "off"}, Target: portXML{Port: 0}}
	if p.Agent {
		dev.Channels = append(dev.Channels, channelXML{Type: "unix", Target: channelTarget{Type: "virtio", Name: "org.qemu.guest_agent.0"}})
	}
	dev.Memballoon = modelXML{Model: "none"}
	var b bytes.Buffer
	enc := xml.NewEncoder(&b)
	enc.Indent("", "  ")
	if err := enc.Encode(d); err != nil {
		return "", fmt.Errorf("domain %s: %w", p.Domain, err)
	}
	return b.String(), nil
}
