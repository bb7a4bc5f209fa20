package ovf

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/podvm-migrate/podvm-migrate/discover"
)

// CIM resource types (rasd:ResourceType) that discovery reads.
const (
	rtOther       = 1
	rtProcessor   = 3
	rtMemory      = 4
	rtIDE         = 5
	rtSCSI        = 6
	rtEthernet    = 10
	rtFloppy      = 14
	rtCDDrive     = 15
	rtDVDDrive    = 16
	rtDiskDrive   = 17
	rtOtherStore  = 20 // SATA and NVMe controllers
	rtSerial      = 21
	rtParallel    = 22
	rtUSB         = 23
	rtPCI         = 13 // I/O device (PCI passthrough)
	rtEthernetOVF = 33 // OVF 2 EthernetPortItem connection
)

// scsiSubTypes maps rasd:ResourceSubType of SCSI controllers.
var scsiSubTypes = map[string]discover.ControllerType{
	"lsilogic": discover.ControllerLSILogic, "lsilogicsas": discover.ControllerLSILogicSAS, "lsisas1068": discover.ControllerLSILogicSAS,
	"virtualscsi": discover.ControllerPVSCSI, "pvscsi": discover.ControllerPVSCSI, "buslogic": discover.ControllerBusLogic,
}

// nicSubTypes maps rasd:ResourceSubType of network adapters.
var nicSubTypes = map[string]string{
	"e1000": "e1000", "e1000e": "e1000e", "vmxnet": "vmxnet", "vmxnet2": "vmxnet2", "vmxnet3": "vmxnet3",
	"pcnet32": "vlance", "vlance": "vlance", "sriovethernetcard": "sriov",
}

// diskRef says where one OVF disk's bytes are.
type diskRef struct {
	file     string // resolved file: absolute path (.ovf) or member name (.ova)
	capacity int64
	format   string
}

// ToVMs maps every VirtualSystem of the envelope. resolve turns a
// References/File href into the disk's File value (and checks it exists).
func ToVMs(name string, env *Envelope, ref discover.SourceRef, resolve func(href string) (string, error)) ([]discover.VM, error) {
	files := map[string]string{}
	for _, f := range env.Files {
		files[f.ID] = f.Href
	}
	disks := map[string]diskRef{}
	for _, d := range env.Disks {
		el := fmt.Sprintf("%s: DiskSection/Disk %q", name, d.ID)
		unit, err := UnitBytes(d.CapacityUnits)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", el, err)
		}
		n, err := strconv.ParseInt(strings.TrimSpace(d.Capacity), 10, 64)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%s: capacity %q: want a number", el, d.Capacity)
		}
		dr := diskRef{capacity: n * unit}
		if i := strings.LastIndexByte(d.Format, '#'); i >= 0 {
			dr.format = d.Format[i+1:]
		}
		if d.FileRef != "" {
			href, ok := files[d.FileRef]
			if !ok {
				return nil, fmt.Errorf("%s: fileRef %q: no such References/File", el, d.FileRef)
			}
			if dr.file, err = resolve(href); err != nil {
				return nil, fmt.Errorf("%s: %w", el, err)
			}
		}
		disks[d.ID] = dr
	}
	systems := env.AllSystems()
	if len(systems) == 0 {
		return nil, fmt.Errorf("%s: no VirtualSystem", name)
	}
	var vms []discover.VM
	for _, vs := range systems {
		vm, err := toVM(name, vs, disks, files, resolve)
		if err != nil {
			return nil, err
		}
		vm.Source = ref
		vms = append(vms, vm)
	}
	return vms, nil
}

// toVM maps one VirtualSystem.
func toVM(name string, vs VirtualSystem, disks map[string]diskRef, files map[string]string, resolve func(string) (string, error)) (discover.VM, error) {
	vm := discover.VM{Name: strings.TrimSpace(vs.Name)}
	if vm.Name == "" {
		vm.Name = vs.ID
	}
	where := fmt.Sprintf("%s: VirtualSystem %q", name, vm.Name)
	vm.Guest.GuestID = vs.OS.OSType
	if vm.Guest.GuestID == "" {
		vm.Guest.GuestID = cimGuestID(vs.OS.ID)
	}
	vm.Guest.FullName = strings.TrimSpace(vs.OS.Description)
	vm.Guest.Family = discover.GuestFamily(vm.Guest.GuestID)
	if len(vs.Hardware) == 0 {
		return vm, fmt.Errorf("%s: no VirtualHardwareSection", where)
	}
	hs := vs.Hardware[0]
	hw := &vm.Hardware
	hw.Firmware = discover.FirmwareBIOS
	hw.CoresPerSocket = 1
	if f := strings.Fields(hs.SystemType); len(f) > 0 {
		hw.Version = f[0]
	}
	for _, c := range append(hs.Configs, hs.ExtraConfigs...) {
		applyConfig(&vm, c)
	}
	items := append(append(append([]Item(nil), hs.Items...), hs.StorageItems...), hs.EthernetPort...)
	ctrls := map[string]*discover.Controller{} // by InstanceID
	counts := map[string]int{}
	for _, it := range items {
		rt, _ := strconv.Atoi(strings.TrimSpace(it.ResourceType))
		el := fmt.Sprintf("%s: Item %q (%s)", where, it.InstanceID, it.ElementName)
		sub := strings.ToLower(strings.TrimSpace(it.ResourceSubType))
		switch rt {
		case rtProcessor:
			n, err := strconv.Atoi(strings.TrimSpace(it.VirtualQuantity))
			if err != nil || n < 1 {
				return vm, fmt.Errorf("%s: VirtualQuantity %q: want a CPU count", el, it.VirtualQuantity)
			}
			hw.CPUs = n
			if c, err := strconv.Atoi(strings.TrimSpace(it.CoresPerSocket)); err == nil && c > 0 && n%c == 0 {
				hw.CoresPerSocket = c
			}
		case rtMemory:
			n, err := strconv.ParseInt(strings.TrimSpace(it.VirtualQuantity), 10, 64)
			if err != nil || n < 0 {
				return vm, fmt.Errorf("%s: VirtualQuantity %q: want a memory size", el, it.VirtualQuantity)
			}
			u, err := UnitBytes(defaultStr(it.AllocationUnits, "byte * 2^20"))
			if err != nil {
				return vm, fmt.Errorf("%s: %w", el, err)
			}
			hw.MemoryMiB = n * u >> 20
		case rtIDE, rtSCSI, rtOtherStore:
			c, ok := controllerOf(rt, sub, it.Address, counts)
			if !ok {
				continue
			}
			ctrls[it.InstanceID] = &c
			hw.Controllers = append(hw.Controllers, c)
		case rtDiskDrive:
			d, err := diskOf(el, it, ctrls, disks, files, resolve)
			if err != nil {
				return vm, err
			}
			hw.Disks = append(hw.Disks, d)
		case rtCDDrive, rtDVDDrive:
			hw.CDROMs++
		case rtEthernet, rtEthernetOVF:
			hw.NICs = append(hw.NICs, nicOf(it, sub))
			if sub == "sriovethernetcard" {
				vm.State.Devices = append(vm.State.Devices, discover.Device{Kind: discover.DeviceSRIOV, Label: it.ElementName})
			}
		case rtUSB:
			detail := "ehci"
			if strings.Contains(sub, "xhci") {
				detail = "xhci"
			}
			vm.State.Devices = append(vm.State.Devices, discover.Device{Kind: discover.DeviceUSBController, Label: it.ElementName, Detail: detail})
		case rtSerial:
			vm.State.Devices = append(vm.State.Devices, discover.Device{Kind: discover.DeviceSerial, Label: it.ElementName})
		case rtParallel:
			vm.State.Devices = append(vm.State.Devices, discover.Device{Kind: discover.DeviceParallel, Label: it.ElementName})
		case rtOther, rtPCI:
			switch {
			case strings.Contains(sub, "vtpm"):
				hw.VTPM = true
			case strings.Contains(sub, "pcipassthrough") || rt == rtPCI:
				vm.State.Devices = append(vm.State.Devices, discover.Device{Kind: discover.DevicePCIPassthrough, Label: it.ElementName, Detail: it.Description})
			case strings.Contains(sub, "usb"):
				vm.State.Devices = append(vm.State.Devices, discover.Device{Kind: discover.DeviceUSB, Label: it.ElementName})
			}
		}
	}
	if hw.CPUs == 0 {
		hw.CPUs = 1
	}
	if hw.CPUs%hw.CoresPerSocket != 0 {
		hw.CoresPerSocket = 1
	}
	hw.Sockets = hw.CPUs / hw.CoresPerSocket
	return vm, nil
}

func defaultStr(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return s
}

// applyConfig reads the vmw:Config and vmw:ExtraConfig keys discovery uses.
func applyConfig(vm *discover.VM, c Config) {
	v := strings.EqualFold(strings.TrimSpace(c.Value), "true")
	switch strings.ToLower(c.Key) {
	case "firmware":
		if strings.EqualFold(c.Value, "efi") {
			vm.Hardware.Firmware = discover.FirmwareEFI
		}
	case "bootoptions.efisecurebootenabled", "uefi.secureboot.enabled":
		vm.Hardware.SecureBoot = v
	case "cpuhotaddenabled", "vcpu.hotadd":
		vm.Hardware.CPUHotAdd = v
	case "memoryhotaddenabled", "mem.hotadd":
		vm.Hardware.MemoryHotAdd = v
	case "vtpm.present":
		vm.Hardware.VTPM = v
	case "changetrackingenabled", "ctkenabled":
		vm.State.CBT = v
	case "uuid", "uuid.bios":
		vm.Identity.BIOSUUID = c.Value
	case "numa.nodeaffinity":
		vm.State.NUMAAffinity = ints(c.Value)
	case "sched.cpu.affinity":
		vm.State.CPUAffinity = ints(c.Value)
	}
}

func ints(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// controllerOf recognises a storage controller item.
func controllerOf(rt int, sub, address string, counts map[string]int) (discover.Controller, bool) {
	var (
		kind discover.ControllerType
		pfx  string
	)
	switch {
	case rt == rtIDE:
		kind, pfx = discover.ControllerIDE, "ide"
	case rt == rtSCSI:
		pfx = "scsi"
		var ok bool
		if kind, ok = scsiSubTypes[sub]; !ok {
			kind = discover.ControllerUnknown
		}
	case strings.Contains(sub, "sata") || strings.Contains(sub, "ahci"):
		kind, pfx = discover.ControllerSATA, "sata"
	case strings.Contains(sub, "nvme"):
		kind, pfx = discover.ControllerNVMe, "nvme"
	default:
		return discover.Controller{}, false
	}
	bus, err := strconv.Atoi(strings.TrimSpace(address))
	if err != nil {
		bus = counts[pfx]
	}
	counts[pfx]++
	c := discover.Controller{ID: fmt.Sprintf("%s%d", pfx, bus), Type: kind, Bus: bus}
	if pfx == "scsi" {
		c.Sharing = "noSharing"
	}
	return c, true
}

// diskOf maps a disk drive item to the disk it names.
func diskOf(el string, it Item, ctrls map[string]*discover.Controller, disks map[string]diskRef, files map[string]string, resolve func(string) (string, error)) (discover.Disk, error) {
	d := discover.Disk{Label: it.ElementName, Mode: discover.DiskPersistent}
	c, ok := ctrls[it.Parent]
	if !ok {
		return d, fmt.Errorf("%s: Parent %q: no such controller", el, it.Parent)
	}
	d.Controller = c.ID
	if u, err := strconv.Atoi(strings.TrimSpace(it.AddressOnParent)); err == nil {
		d.Unit = u
	}
	if len(it.HostResource) == 0 {
		return d, fmt.Errorf("%s: no HostResource", el)
	}
	hr := strings.TrimSpace(it.HostResource[0])
	switch {
	case strings.HasPrefix(hr, "ovf:/disk/") || strings.HasPrefix(hr, "/disk/"):
		id := hr[strings.LastIndexByte(hr, '/')+1:]
		dr, ok := disks[id]
		if !ok {
			return d, fmt.Errorf("%s: HostResource %q: no such disk in the DiskSection", el, hr)
		}
		d.File, d.CapacityBytes, d.Format = dr.file, dr.capacity, dr.format
	case strings.HasPrefix(hr, "ovf:/file/") || strings.HasPrefix(hr, "/file/"):
		id := hr[strings.LastIndexByte(hr, '/')+1:]
		href, ok := files[id]
		if !ok {
			return d, fmt.Errorf("%s: HostResource %q: no such References/File", el, hr)
		}
		f, err := resolve(href)
		if err != nil {
			return d, fmt.Errorf("%s: %w", el, err)
		}
		d.File = f
	default:
		return d, fmt.Errorf("%s: HostResource %q: want ovf:/disk/ID or ovf:/file/ID", el, hr)
	}
	for _, c := range it.Configs {
		switch strings.ToLower(c.Key) {
		case "backing.diskmode":
			d.Mode = discover.DiskMode(c.Value)
		case "backing.sharing":
			d.Sharing = c.Value
		}
	}
	return d, nil
}

// nicOf maps a network adapter item.
func nicOf(it Item, sub string) discover.NIC {
	n := discover.NIC{Label: it.ElementName, Model: nicSubTypes[sub], StartConnected: true}
	if n.Model == "" {
		n.Model = "unknown"
	}
	if len(it.Connection) > 0 {
		n.Network = strings.TrimSpace(it.Connection[0])
	}
	if mac := strings.TrimSpace(it.Address); mac != "" {
		n.MAC, n.AddressType = strings.ToLower(mac), "static"
	} else {
		n.AddressType = "generated"
	}
	if strings.EqualFold(strings.TrimSpace(it.AutomaticAllocation), "false") {
		n.StartConnected = false
	}
	return n
}

// cimGuestID maps the commonest CIM operating system codes (ovf:id of the
// OperatingSystemSection) when vmw:osType is missing.
func cimGuestID(code string) string {
	switch strings.TrimSpace(code) {
	case "36":
		return "otherLinuxGuest"
	case "101", "102":
		return "otherLinux64Guest"
	case "79", "80":
		return "rhel6_64Guest"
	case "93", "94":
		return "ubuntu64Guest"
	case "95", "96":
		return "debian10_64Guest"
	case "103", "113", "116":
		return "windows9Server64Guest"
	case "105", "112":
		return "windows9_64Guest"
	case "":
		return ""
	}
	return "otherGuest"
}
