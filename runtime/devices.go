package runtime

import (
	"fmt"
	"strings"

	"libvirt.org/go/libvirtxml"

	"github.com/podvm-migrate/podvm-migrate/podvm"
)

// nicSlot is the root-bus slot of a NIC given on QEMU's command line.
const nicSlot = 0x10

// rootSlots hands out slots on the root bus (pcie.0 or pci.0): devices
// there need no PCIe root ports, which SeaBIOS would otherwise have to walk
// (slower under TCG). Slot 0x10 is kept for a NIC on QEMU's command line.
type rootSlots struct{ next uint }

func (r *rootSlots) take() *libvirtxml.DomainAddress {
	if r.next < 2 {
		r.next = 2
	}
	if r.next == nicSlot {
		r.next++
	}
	zero, slot := uint(0), r.next
	r.next++
	return &libvirtxml.DomainAddress{PCI: &libvirtxml.DomainAddressPCI{Domain: &zero, Bus: &zero, Slot: &slot, Function: &zero}}
}

// devices are the pod VM's disks, controllers, NICs, serial log and agent
// channel, and the QEMU arguments of a NIC with port forwards.
func devices(p domainParams) (*libvirtxml.DomainDeviceList, *libvirtxml.DomainQEMUCommandline, error) {
	slots := &rootSlots{}
	dev := &libvirtxml.DomainDeviceList{Emulator: p.Emulator}
	var scsi bool
	dev.Disks, scsi = disks(p, slots)
	if scsi {
		dev.Controllers = append(dev.Controllers, libvirtxml.DomainController{Type: "scsi", Model: "virtio-scsi", Address: slots.take()})
	}
	dev.Controllers = append(dev.Controllers, libvirtxml.DomainController{Type: "usb", Model: "none"})
	ifaces, cmdline, err := nics(p, slots)
	if err != nil {
		return nil, nil, err
	}
	dev.Interfaces = ifaces
	port := uint(0)
	dev.Serials = []libvirtxml.DomainSerial{{
		Source: &libvirtxml.DomainChardevSource{File: &libvirtxml.DomainChardevSourceFile{Path: p.Serial, Append: "off"}},
		Target: &libvirtxml.DomainSerialTarget{Port: &port},
	}}
	// Every pod VM gets the qemu-guest-agent channel, whatever its
	// readiness: a converted guest's first boot installs the agent and
	// waits for this port (virt-v2v's firstboot: 90 s without it), and the
	// runtime asks a connected agent for the guest's addresses. A unix
	// channel without a path: libvirt picks the socket.
	dev.Channels = append(dev.Channels, libvirtxml.DomainChannel{
		Source: &libvirtxml.DomainChardevSource{UNIX: &libvirtxml.DomainChardevSourceUNIX{}},
		Target: &libvirtxml.DomainChannelTarget{VirtIO: &libvirtxml.DomainChannelTargetVirtIO{Name: guestAgentChannel}},
	})
	dev.MemBalloon = &libvirtxml.DomainMemBalloon{Model: "none"}
	return dev, cmdline, nil
}

// disks are the overlays on the buses the spec asks for (IDE becomes SATA
// on q35, which has no IDE controller); scsi tells whether one needs a
// virtio-scsi controller.
func disks(p domainParams, slots *rootSlots) (out []libvirtxml.DomainDisk, scsi bool) {
	machine := machineType(p.Spec)
	counters := map[string]int{}
	for i, sd := range p.Spec.Disks {
		bus := sd.Bus
		if bus == podvm.BusIDE && !isI440FX(machine) {
			bus = podvm.BusSATA
		}
		prefix := map[string]string{podvm.BusVirtio: "vd", podvm.BusSATA: "sd", podvm.BusSCSI: "sd", podvm.BusIDE: "hd"}[bus]
		n := counters[prefix]
		counters[prefix]++
		scsi = scsi || bus == podvm.BusSCSI
		disk := libvirtxml.DomainDisk{
			Device: "disk",
			Driver: &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "qcow2", Cache: sd.Cache},
			Source: &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: p.Disks[i]}},
			Target: &libvirtxml.DomainDiskTarget{Dev: prefix + string(rune('a'+n)), Bus: bus},
		}
		if i < len(p.Bases) {
			disk.BackingStore = p.Bases[i].backingStore()
		}
		if i == 0 && p.Kernel == "" {
			disk.Boot = &libvirtxml.DomainDeviceBoot{Order: 1}
		}
		if bus == podvm.BusVirtio {
			disk.Address = slots.take()
		}
		out = append(out, disk)
	}
	return out, scsi
}

// nics are the spec's NICs with their models and source MACs, each on the
// network its spec names (see ParseNICNetwork): user networking by
// default, a libvirt network or a host bridge. The first NIC on user
// networking of a pod VM with published ports is given on QEMU's command
// line instead: libvirt forwards ports only with the passt backend, QEMU's
// own user networking does it with hostfwd.
func nics(p domainParams, slots *rootSlots) ([]libvirtxml.DomainInterface, *libvirtxml.DomainQEMUCommandline, error) {
	var out []libvirtxml.DomainInterface
	var cmdline *libvirtxml.DomainQEMUCommandline
	for _, n := range p.Spec.NICs {
		model := n.Model
		if model == podvm.NICE1000E {
			model = "e1000e"
		}
		nn, err := ParseNICNetwork(n.Network)
		if err != nil {
			return nil, nil, fmt.Errorf("domain %s: nic %s: %w", p.Domain, n.Name, err)
		}
		if nn.Kind == NetworkUser && cmdline == nil && len(p.Publish) > 0 {
			cmdline = &libvirtxml.DomainQEMUCommandline{}
			for _, a := range hostfwdArgs(p, model, n.MAC) {
				cmdline.Args = append(cmdline.Args, libvirtxml.DomainQEMUCommandlineArg{Value: a})
			}
			continue
		}
		iface := libvirtxml.DomainInterface{
			Source:  nn.interfaceSource(),
			Model:   &libvirtxml.DomainInterfaceModel{Type: model},
			Address: slots.take(),
		}
		if n.MAC != "" {
			iface.MAC = &libvirtxml.DomainInterfaceMAC{Address: strings.ToLower(n.MAC)}
		}
		out = append(out, iface)
	}
	if len(p.Publish) > 0 && len(p.Spec.NICs) > 0 && cmdline == nil {
		return nil, nil, fmt.Errorf("domain %s: %w: published ports need a NIC on user networking", p.Domain, ErrUnsatisfiable)
	}
	return out, cmdline, nil
}

// hostfwdArgs are the -netdev and -device arguments of a NIC whose user
// networking forwards the published ports. The NIC sits at a fixed slot on
// the root bus that libvirt's own allocation (root ports from slot 1 up)
// does not reach.
func hostfwdArgs(p domainParams, model, mac string) []string {
	netdev := "user,id=podvmnet0"
	for _, f := range p.Publish {
		netdev += ",hostfwd=" + f.hostfwd()
	}
	bus := "pcie.0"
	if isI440FX(machineType(p.Spec)) {
		bus = "pci.0"
	}
	device := map[string]string{"virtio": "virtio-net-pci", "e1000e": "e1000e"}[model] + ",netdev=podvmnet0,bus=" + bus + fmt.Sprintf(",addr=0x%x", nicSlot)
	if mac != "" {
		device += ",mac=" + strings.ToLower(mac)
	}
	return []string{"-netdev", netdev, "-device", device}
}
