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
	file     string   // resolved file: absolute path (.ovf) or member name (.ova); empty for a blank disk
	chunks   []string // the parts of a chunked file, in order
	capacity int64
	unknown  bool // capacity not stated in a form we read
	blank    bool // no file: an empty disk of capacity bytes
	format   string
	warnings []string // problems with this disk, given to each VM that uses it
}

// Resolver turns a References/File entry into the disk's File value and,
// for a file split by ovf:chunkSize, its parts; it checks they exist.
type Resolver func(f File) (file string, chunks []string, err error)

// Options tune how an envelope is read.
type Options struct {
	// Config is the deployment option (DeploymentOptionSection
	// Configuration id) whose items count; empty: the one marked
	// ovf:default="true", else the first.
	Config string
}

// ToVMs maps every VirtualSystem of the envelope. Problems with a disk,
// an item or the deployment option are warnings of the VMs they touch;
// only an envelope without a VirtualSystem is an error.
func ToVMs(name string, env *Envelope, ref discover.SourceRef, resolve Resolver, o Options) ([]discover.VM, error) {
	files := map[string]File{}
	for _, f := range env.Files {
		files[f.ID] = f
	}
	disks := map[string]diskRef{}
	for _, d := range env.Disks {
		disks[d.ID] = diskRefOf(name, d, files, resolve)
	}
	systems := env.AllSystems()
	if len(systems) == 0 {
		return nil, fmt.Errorf("%s: no VirtualSystem", name)
	}
	var vms []discover.VM
	for _, vs := range systems {
		deployment := env.Deployment
		if len(vs.Deployment) > 0 {
			deployment = vs.Deployment
		}
		config, warn := chooseConfig(deployment, o.Config)
		vm := toVM(name, vs, disks, files, resolve, config)
		if warn != "" {
			vm.Warnings = append([]string{name + ": " + warn}, vm.Warnings...)
		}
		vm.Source = ref
		vms = append(vms, vm)
	}
	return vms, nil
}

// diskRefOf reads one DiskSection/Disk.
func diskRefOf(name string, d Disk, files map[string]File, resolve Resolver) diskRef {
	el := fmt.Sprintf("%s: DiskSection/Disk %q", name, d.ID)
	var dr diskRef
	if i := strings.LastIndexByte(d.Format, '#'); i >= 0 {
		dr.format = d.Format[i+1:]
	}
	unit, err := UnitBytes(d.CapacityUnits)
	n, nerr := strconv.ParseInt(strings.TrimSpace(d.Capacity), 10, 64)
	switch {
	case err != nil:
		dr.unknown = true
		dr.warnings = append(dr.warnings, fmt.Sprintf("%s: %v: capacity unknown", el, err))
	case nerr != nil || n < 0:
		dr.unknown = true
		dr.warnings = append(dr.warnings, fmt.Sprintf("%s: capacity %q: not a number: capacity unknown", el, d.Capacity))
	case n > 0 && unit > (1<<62)/n:
		dr.unknown = true
		dr.warnings = append(dr.warnings, fmt.Sprintf("%s: capacity %d × %d bytes: too large: capacity unknown", el, n, unit))
	default:
		dr.capacity = n * unit
	}
	if d.FileRef == "" {
		dr.blank = true
		return dr
	}
	f, ok := files[d.FileRef]
	if !ok {
		dr.warnings = append(dr.warnings, fmt.Sprintf("%s: fileRef %q: no such References/File", el, d.FileRef))
		return dr
	}
	if dr.file, dr.chunks, err = resolve(f); err != nil {
		dr.warnings = append(dr.warnings, fmt.Sprintf("%s: %v", el, err))
	}
	return dr
}

// chooseConfig picks the deployment option: want when given (a warning
// and the default when it is not offered), else the default.
func chooseConfig(opts []Configuration, want string) (string, string) {
	if len(opts) == 0 {
		if want != "" {
			return "", fmt.Sprintf("deployment option %q: the envelope offers none: every item counts", want)
		}
		return "", ""
	}
	def := opts[0].ID
	for _, c := range opts {
		if strings.EqualFold(strings.TrimSpace(c.Default), "true") {
			def = c.ID
			break
		}
	}
	if want == "" {
		return def, ""
	}
	var ids []string
	for _, c := range opts {
		if c.ID == want {
			return want, ""
		}
		ids = append(ids, c.ID)
	}
	return def, fmt.Sprintf("deployment option %q not offered (%s): read with the default, %q", want, strings.Join(ids, ", "), def)
}

// inConfig reports whether an item counts in the chosen deployment option:
// items without ovf:configuration count in all; a range's min and max
// bounds never do (only its normal value).
func inConfig(it Item, config string) bool {
	if b := strings.ToLower(strings.TrimSpace(it.Bound)); b == "min" || b == "max" {
		return false
	}
	if strings.TrimSpace(it.Configuration) == "" || config == "" {
		return true
	}
	for _, c := range strings.Fields(it.Configuration) {
		if c == config {
			return true
		}
	}
	return false
}

// toVM maps one VirtualSystem; what it cannot read becomes a warning.
func toVM(name string, vs VirtualSystem, disks map[string]diskRef, files map[string]File, resolve Resolver, config string) discover.VM {
	vm := discover.VM{Name: strings.TrimSpace(vs.Name)}
	if vm.Name == "" {
		vm.Name = vs.ID
	}
	where := fmt.Sprintf("%s: VirtualSystem %q", name, vm.Name)
	warn := func(format string, a ...any) { vm.Warnings = append(vm.Warnings, fmt.Sprintf(format, a...)) }
	vm.Guest.GuestID = strings.TrimSpace(vs.OS.OSType)
	vm.Guest.FullName = strings.TrimSpace(vs.OS.Description)
	if vm.Guest.GuestID == "" {
		id, ok := cimGuestID(vs.OS.ID, vm.Guest.FullName)
		vm.Guest.GuestID = id
		if !ok {
			warn("%s: OperatingSystemSection ovf:id %q: not a known CIM operating system: guest %s", where, vs.OS.ID, id)
		}
	}
	vm.Guest.Family = discover.GuestFamily(vm.Guest.GuestID)
	hw := &vm.Hardware
	hw.Firmware = discover.FirmwareBIOS
	hw.CoresPerSocket = 1
	if fw, ok := firmwareOf(vs.Inner); ok {
		hw.Firmware, hw.SecureBoot = fw.firmware, fw.secureBoot
	} else {
		warn("%s: no section states the firmware: BIOS assumed", where)
	}
	if len(vs.Hardware) == 0 {
		warn("%s: no VirtualHardwareSection: hardware unknown", where)
		hw.CPUs, hw.Sockets = 1, 1
		return vm
	}
	hs := vs.Hardware[0]
	if f := strings.Fields(hs.SystemType); len(f) > 0 {
		hw.Version = f[0]
	}
	for _, c := range append(hs.Configs, hs.ExtraConfigs...) {
		applyConfig(&vm, c)
	}
	items := append(append(append([]Item(nil), hs.Items...), hs.StorageItems...), hs.EthernetPort...)
	ctrls := map[string]*discover.Controller{} // by InstanceID
	counts := map[string]int{}
	usedDisks := map[string]bool{}
	for _, it := range items {
		if !inConfig(it, config) {
			continue
		}
		rt, _ := strconv.Atoi(strings.TrimSpace(it.ResourceType))
		el := fmt.Sprintf("%s: Item %q (%s)", where, it.InstanceID, it.ElementName)
		sub := strings.ToLower(strings.TrimSpace(it.ResourceSubType))
		switch rt {
		case rtProcessor:
			n, err := strconv.Atoi(strings.TrimSpace(it.VirtualQuantity))
			if err != nil || n < 1 {
				warn("%s: VirtualQuantity %q: want a CPU count: item skipped", el, it.VirtualQuantity)
				continue
			}
			hw.CPUs = n
			if c, err := strconv.Atoi(strings.TrimSpace(it.CoresPerSocket)); err == nil && c > 0 && n%c == 0 {
				hw.CoresPerSocket = c
			}
		case rtMemory:
			n, err := strconv.ParseInt(strings.TrimSpace(it.VirtualQuantity), 10, 64)
			if err != nil || n < 0 {
				warn("%s: VirtualQuantity %q: want a memory size: item skipped", el, it.VirtualQuantity)
				continue
			}
			u, err := UnitBytes(defaultStr(it.AllocationUnits, "byte * 2^20"))
			if err != nil || (n > 0 && u > (1<<62)/n) {
				warn("%s: AllocationUnits %q: memory size unknown: item skipped", el, it.AllocationUnits)
				continue
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
			d, diskID, warns := diskOf(el, it, ctrls, disks, files, resolve)
			vm.Warnings = append(vm.Warnings, warns...)
			if diskID != "" && !usedDisks[diskID] {
				usedDisks[diskID] = true
				vm.Warnings = append(vm.Warnings, disks[diskID].warnings...)
			}
			hw.Disks = append(hw.Disks, d)
		case rtCDDrive, rtDVDDrive:
			hw.CDROMs++
		case rtFloppy:
			vm.State.Devices = append(vm.State.Devices, discover.Device{Kind: discover.DeviceFloppy, Label: it.ElementName})
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
			vm.State.Devices = append(vm.State.Devices, portOf(discover.DeviceSerial, it))
		case rtParallel:
			vm.State.Devices = append(vm.State.Devices, portOf(discover.DeviceParallel, it))
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
	return vm
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

// diskOf maps a disk drive item to the disk it names, with warnings for
// what it cannot resolve; diskID is the DiskSection id it uses, if any.
func diskOf(el string, it Item, ctrls map[string]*discover.Controller, disks map[string]diskRef, files map[string]File,
	resolve Resolver) (d discover.Disk, diskID string, warns []string) {
	d = discover.Disk{Label: it.ElementName, Mode: discover.DiskPersistent, CapacityUnknown: true}
	if c, ok := ctrls[it.Parent]; ok {
		d.Controller = c.ID
	} else {
		warns = append(warns, fmt.Sprintf("%s: Parent %q: no such controller", el, it.Parent))
	}
	if u, err := strconv.Atoi(strings.TrimSpace(it.AddressOnParent)); err == nil {
		d.Unit = u
	}
	for _, c := range it.Configs {
		switch strings.ToLower(c.Key) {
		case "backing.diskmode":
			d.Mode = discover.DiskMode(c.Value)
		case "backing.sharing":
			d.Sharing = c.Value
		}
	}
	if len(it.HostResource) == 0 {
		return d, "", append(warns, fmt.Sprintf("%s: no HostResource: capacity unknown", el))
	}
	hr := strings.TrimSpace(it.HostResource[0])
	id := hr[strings.LastIndexByte(hr, '/')+1:]
	switch {
	case strings.HasPrefix(hr, "ovf:/disk/") || strings.HasPrefix(hr, "/disk/"):
		dr, ok := disks[id]
		if !ok {
			return d, "", append(warns, fmt.Sprintf("%s: HostResource %q: no such disk in the DiskSection: capacity unknown", el, hr))
		}
		d.File, d.Chunks, d.Format, d.Blank = dr.file, dr.chunks, dr.format, dr.blank
		d.CapacityBytes, d.CapacityUnknown = dr.capacity, dr.unknown
		return d, id, warns
	case strings.HasPrefix(hr, "ovf:/file/") || strings.HasPrefix(hr, "/file/"):
		f, ok := files[id]
		if !ok {
			return d, "", append(warns, fmt.Sprintf("%s: HostResource %q: no such References/File", el, hr))
		}
		file, chunks, err := resolve(f)
		if err != nil {
			warns = append(warns, fmt.Sprintf("%s: %v", el, err))
		}
		d.File, d.Chunks = file, chunks
		return d, "", append(warns, fmt.Sprintf("%s: HostResource %q names a file, not a disk: capacity unknown", el, hr))
	}
	return d, "", append(warns, fmt.Sprintf("%s: HostResource %q: want ovf:/disk/ID or ovf:/file/ID: capacity unknown", el, hr))
}

// portOf maps a serial or parallel port item; its backing, when the item
// states one (rasd:Connection or HostResource: a file, pipe or URI), is
// guessed from the name as for VMX ports.
func portOf(kind discover.DeviceKind, it Item) discover.Device {
	dev := discover.Device{Kind: kind, Label: it.ElementName}
	for _, c := range append(append([]string(nil), it.Connection...), it.HostResource...) {
		if c = strings.TrimSpace(c); c != "" {
			dev.Detail = c
			break
		}
	}
	switch {
	case dev.Detail == "":
	case strings.Contains(dev.Detail, "://"):
		dev.Backing = discover.BackingNetwork
	case strings.Contains(strings.ToLower(dev.Detail), "pipe"):
		dev.Backing = discover.BackingPipe
	case strings.HasPrefix(dev.Detail, "/dev/"):
		dev.Backing = discover.BackingDevice
	default:
		dev.Backing = discover.BackingFile
	}
	return dev
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
