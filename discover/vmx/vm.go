package vmx

import (
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/podvm-migrate/podvm-migrate/discover"
)

// ToVM maps the keys of the .vmx at path into the inventory model, reading
// the .vmdk descriptors it names.
func ToVM(path string, d Dict) (discover.VM, error) {
	vm := discover.VM{Source: discover.SourceRef{Kind: discover.SourceVMX, Path: path}}
	vm.Name = d.Get("displayName")
	if vm.Name == "" {
		vm.Name = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	}
	vm.Identity.BIOSUUID = vmxUUID(d.Get("uuid.bios"))
	vm.Identity.InstanceUUID = vmxUUID(d.Get("vc.uuid"))
	vm.Identity.Template = d.Bool("templateVM", false)
	if v := d.Get("guestOS"); v != "" {
		vm.Guest.GuestID = GuestID(v)
		vm.Guest.Family = discover.GuestFamily(vm.Guest.GuestID)
	}
	if d.Get("checkpoint.vmState") != "" {
		vm.State.Power = discover.Suspended
	}

	hw := &vm.Hardware
	if v := d.Get("virtualHW.version"); v != "" {
		hw.Version = "vmx-" + v
	}
	hw.Firmware = discover.FirmwareBIOS
	if strings.EqualFold(d.Get("firmware"), "efi") {
		hw.Firmware = discover.FirmwareEFI
		hw.SecureBoot = d.Bool("uefi.secureBoot.enabled", false)
	}
	hw.VTPM = d.Bool("vtpm.present", false)
	hw.CPUs = int(d.Int("numvcpus", 1))
	hw.CoresPerSocket = int(d.Int("cpuid.coresPerSocket", 1))
	if hw.CoresPerSocket < 1 || hw.CPUs%hw.CoresPerSocket != 0 {
		hw.CoresPerSocket = 1
	}
	hw.Sockets = hw.CPUs / hw.CoresPerSocket
	hw.MemoryMiB = d.Int("memSize", 32)
	hw.CPUHotAdd = d.Bool("vcpu.hotadd", false)
	hw.MemoryHotAdd = d.Bool("mem.hotadd", false)
	vm.State.CBT = d.Bool("ctkEnabled", false)
	vm.State.CPUAffinity = intList(d.Get("sched.cpu.affinity"))
	vm.State.NUMAAffinity = intList(d.Get("numa.nodeAffinity"))

	if err := storage(path, d, &vm); err != nil {
		return vm, err
	}
	nics(d, &vm)
	devices(d, &vm)
	return vm, nil
}

// vmxUUID turns "56 4d 50 4f 44 56 4d 2d-67 75 65 73 74 00 00 01" into
// 564d504f-4456-4d2d-6775-657374000001.
func vmxUUID(s string) string {
	h := strings.NewReplacer(" ", "", "-", "").Replace(s)
	if len(h) != 32 {
		return s
	}
	h = strings.ToLower(h)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func intList(s string) []int {
	var out []int
	if strings.EqualFold(strings.TrimSpace(s), "all") {
		return nil
	}
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		if n, err := strconv.Atoi(f); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// deviceKey matches device keys such as scsi0:1.present or nvme0:0.present.
var deviceKey = regexp.MustCompile(`^(ide|sata|scsi|nvme)(\d+):(\d+)\.present$`)

// controllerKinds maps scsiN.virtualDev values.
var controllerKinds = map[string]discover.ControllerType{
	"lsilogic": discover.ControllerLSILogic, "lsisas1068": discover.ControllerLSILogicSAS,
	"pvscsi": discover.ControllerPVSCSI, "buslogic": discover.ControllerBusLogic,
}

// storage finds controllers and disks.
func storage(path string, d Dict, vm *discover.VM) error {
	ctrls := map[string]discover.Controller{}
	addCtrl := func(bus string, n int) {
		id := fmt.Sprintf("%s%d", bus, n)
		if _, ok := ctrls[id]; ok {
			return
		}
		c := discover.Controller{ID: id, Bus: n}
		switch bus {
		case "ide":
			c.Type = discover.ControllerIDE
		case "sata":
			c.Type = discover.ControllerSATA
		case "nvme":
			c.Type = discover.ControllerNVMe
		case "scsi":
			c.Type = discover.ControllerLSILogic // VMware's default when virtualDev is missing
			if v := strings.ToLower(d.Get(id + ".virtualDev")); v != "" {
				if k, ok := controllerKinds[v]; ok {
					c.Type = k
				} else {
					c.Type = discover.ControllerUnknown
				}
			}
			switch strings.ToLower(d.Get(id + ".sharedBus")) {
			case "virtual":
				c.Sharing = "virtualSharing"
			case "physical":
				c.Sharing = "physicalSharing"
			default:
				c.Sharing = "noSharing"
			}
		}
		ctrls[id] = c
	}
	for _, bus := range []string{"sata", "scsi", "nvme"} {
		for n := 0; n < 4; n++ {
			if d.Bool(fmt.Sprintf("%s%d.present", bus, n), false) {
				addCtrl(bus, n)
			}
		}
	}
	var keys []string
	for k := range d {
		if deviceKey.MatchString(k) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !d.Bool(k, false) {
			continue
		}
		m := deviceKey.FindStringSubmatch(k)
		bus, n, unit := m[1], atoi(m[2]), atoi(m[3])
		dev := fmt.Sprintf("%s%d:%d", bus, n, unit)
		typ := strings.ToLower(d.Get(dev + ".deviceType"))
		file := d.Get(dev + ".fileName")
		addCtrl(bus, n)
		switch {
		case strings.Contains(typ, "cdrom") || typ == "atapi-cdrom":
			vm.Hardware.CDROMs++
			continue
		case typ == "" && !strings.HasSuffix(strings.ToLower(file), ".vmdk"):
			continue
		case typ != "" && !strings.Contains(typ, "disk") && typ != "rawdisk":
			continue
		}
		disk, err := diskOf(path, d, dev, file)
		if err != nil {
			return err
		}
		disk.Controller = fmt.Sprintf("%s%d", bus, n)
		disk.Unit = unit
		disk.Label = dev
		vm.Hardware.Disks = append(vm.Hardware.Disks, disk)
		if disk.CBT {
			vm.State.CBT = true
		}
	}
	ids := make([]string, 0, len(ctrls))
	for id := range ctrls {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		vm.Hardware.Controllers = append(vm.Hardware.Controllers, ctrls[id])
	}
	return nil
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

// diskModes maps VMX disk modes to vSphere's names.
var diskModes = map[string]discover.DiskMode{
	"persistent": discover.DiskPersistent, "nonpersistent": discover.DiskNonPersistent,
	"independent-persistent": discover.DiskIndependentPersistent, "independent-nonpersistent": discover.DiskIndependentNonPersist,
	"undoable": discover.DiskUndoable, "append": discover.DiskAppend,
}

// diskOf reads one disk's descriptor.
func diskOf(path string, d Dict, dev, file string) (discover.Disk, error) {
	disk := discover.Disk{Mode: discover.DiskPersistent, Sharing: "sharingNone"}
	if m, ok := diskModes[strings.ToLower(d.Get(dev+".mode"))]; ok {
		disk.Mode = m
	}
	if strings.EqualFold(d.Get(dev+".sharing"), "multi-writer") {
		disk.Sharing = "sharingMultiWriter"
	}
	disk.CBT = d.Bool(dev+".ctkEnabled", false)
	if file == "" {
		return disk, fmt.Errorf("%s: %s.fileName: missing", path, dev)
	}
	if !filepath.IsAbs(file) {
		file = filepath.Join(filepath.Dir(path), file)
	}
	disk.File = file
	desc, err := ReadDescriptor(file)
	if err != nil {
		return disk, fmt.Errorf("%s: %s.fileName: %w", path, dev, err)
	}
	disk.CapacityBytes = desc.CapacityBytes
	disk.Format = desc.CreateType
	disk.UUID = desc.UUID
	disk.Provisioning = discover.ProvisionThickLazy
	if desc.Thin {
		disk.Provisioning = discover.ProvisionThin
	}
	switch strings.ToLower(desc.CreateType) {
	case "vmfspassthroughrawdevicemap":
		disk.RDM = &discover.RDM{Compatibility: "physicalMode"}
	case "vmfsrawdevicemap":
		disk.RDM = &discover.RDM{Compatibility: "virtualMode"}
	}
	if disk.RDM != nil && len(desc.Extents) > 0 {
		disk.RDM.Device = desc.Extents[0]
	}
	if disk.Chain, err = chain(file, desc); err != nil {
		return disk, fmt.Errorf("%s: %s: %w", path, dev, err)
	}
	return disk, nil
}

// nicModels maps ethernetN.virtualDev values; a missing value means vlance.
var nicModels = map[string]string{
	"e1000": "e1000", "e1000e": "e1000e", "vmxnet": "vmxnet", "vmxnet2": "vmxnet2", "vmxnet3": "vmxnet3",
	"vlance": "vlance", "pcnet32": "vlance",
}

var ethernetKey = regexp.MustCompile(`^ethernet(\d+)\.present$`)

// nics finds the network adapters.
func nics(d Dict, vm *discover.VM) {
	var idx []int
	for k := range d {
		if m := ethernetKey.FindStringSubmatch(k); m != nil && d.Bool(k, false) {
			idx = append(idx, atoi(m[1]))
		}
	}
	sort.Ints(idx)
	for _, i := range idx {
		p := fmt.Sprintf("ethernet%d.", i)
		n := discover.NIC{Label: fmt.Sprintf("ethernet%d", i), Model: "vlance"}
		if v := strings.ToLower(d.Get(p + "virtualDev")); v != "" {
			n.Model = nicModels[v]
			if n.Model == "" {
				n.Model = "unknown"
			}
		}
		switch strings.ToLower(d.Get(p + "addressType")) {
		case "static":
			n.AddressType, n.MAC = "static", d.Get(p+"address")
		case "vpx":
			n.AddressType, n.MAC = "assigned", d.Get(p+"generatedAddress")
		default:
			n.AddressType, n.MAC = "generated", d.Get(p+"generatedAddress")
		}
		n.MAC = strings.ToLower(n.MAC)
		n.Network = d.Get(p + "networkName")
		if n.Network == "" {
			n.Network = d.Get(p + "connectionType") // bridged, nat, hostonly, custom (Workstation)
			if n.Network == "custom" {
				n.Network = d.Get(p + "vnet")
			}
		}
		n.NetworkID = d.Get(p + "dvs.portgroupId")
		n.StartConnected = d.Bool(p+"startConnected", true)
		vm.Hardware.NICs = append(vm.Hardware.NICs, n)
	}
}

var (
	pciKey = regexp.MustCompile(`^pcipassthru(\d+)\.present$`)
	usbKey = regexp.MustCompile(`^usb:(\d+)\.present$`)
	serKey = regexp.MustCompile(`^(serial|parallel)(\d+)\.present$`)
)

// devices finds the host-bound devices: PCI passthrough and SR-IOV, USB,
// serial and parallel ports.
func devices(d Dict, vm *discover.VM) {
	st := &vm.State
	if d.Bool("usb.present", false) {
		st.Devices = append(st.Devices, discover.Device{Kind: discover.DeviceUSBController, Label: "usb", Detail: "ehci"})
	}
	if d.Bool("usb_xhci.present", false) {
		st.Devices = append(st.Devices, discover.Device{Kind: discover.DeviceUSBController, Label: "usb_xhci", Detail: "xhci"})
	}
	var keys []string
	for k := range d {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !d.Bool(k, false) {
			continue
		}
		switch {
		case pciKey.MatchString(k):
			p := strings.TrimSuffix(k, "present")
			kind, detail := discover.DevicePCIPassthrough, d.Get(p+"id")
			switch {
			case d.Get(p+"pfId") != "":
				kind, detail = discover.DeviceSRIOV, d.Get(p+"pfId")
			case d.Get(p+"vgpu") != "":
				kind, detail = discover.DeviceVGPU, d.Get(p+"vgpu")
			}
			st.Devices = append(st.Devices, discover.Device{Kind: kind, Label: strings.TrimSuffix(p, "."), Detail: detail})
		case usbKey.MatchString(k):
			p := strings.TrimSuffix(k, "present")
			st.Devices = append(st.Devices, discover.Device{Kind: discover.DeviceUSB, Label: strings.TrimSuffix(p, "."), Detail: d.Get(p + "path")})
		case serKey.MatchString(k):
			m := serKey.FindStringSubmatch(k)
			kind := discover.DeviceSerial
			if m[1] == "parallel" {
				kind = discover.DeviceParallel
			}
			p := strings.TrimSuffix(k, "present")
			st.Devices = append(st.Devices, discover.Device{Kind: kind, Label: strings.TrimSuffix(p, "."), Detail: d.Get(p + "fileName")})
		}
	}
}
