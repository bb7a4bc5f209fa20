package vmx

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/podvm-migrate/podvm-migrate/convert/vmdk"
	"github.com/podvm-migrate/podvm-migrate/discover"
)

// deviceKey matches device keys such as scsi0:1.present or nvme0:0.present.
var deviceKey = regexp.MustCompile(`^(ide|sata|scsi|nvme)(\d+):(\d+)\.present$`)

// controllerKinds maps scsiN.virtualDev values.
var controllerKinds = map[string]discover.ControllerType{
	"lsilogic": discover.ControllerLSILogic, "lsisas1068": discover.ControllerLSILogicSAS,
	"pvscsi": discover.ControllerPVSCSI, "buslogic": discover.ControllerBusLogic,
}

// storage finds controllers, disks, CD-ROMs and SCSI pass-through devices.
func storage(path string, d Dict, o Options, vm *discover.VM) {
	ctrls := map[string]discover.Controller{}
	addCtrl := func(bus string, n int) {
		id := fmt.Sprintf("%s%d", bus, n)
		if _, ok := ctrls[id]; ok {
			return
		}
		ctrls[id] = controllerOf(d, bus, id, n)
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
		case strings.Contains(typ, "cdrom"):
			vm.Hardware.CDROMs++
			continue
		case typ == "scsi-passthru":
			vm.State.Devices = append(vm.State.Devices, discover.Device{Kind: discover.DeviceSCSIPassthrough, Label: dev,
				Detail: file, Backing: discover.BackingDevice})
			continue
		case typ == "" && file == "":
			vm.Warnings = append(vm.Warnings, fmt.Sprintf("%s: present with no deviceType and no fileName: skipped", dev))
			continue
		case typ == "" && !strings.HasSuffix(strings.ToLower(file), ".vmdk"):
			continue
		case typ != "" && !strings.Contains(typ, "disk"):
			vm.Warnings = append(vm.Warnings, fmt.Sprintf("%s: deviceType %q not known: skipped", dev, typ))
			continue
		}
		disk := diskOf(path, d, o, dev, file, &vm.Warnings)
		if typ == "rawdisk" && disk.Raw == nil {
			disk.Raw = &discover.RawDevice{Kind: "rawDisk"}
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
}

// controllerOf describes controller id (bus kind and number n).
func controllerOf(d Dict, bus, id string, n int) discover.Controller {
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
	return c
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

// diskModes maps VMX disk modes to vSphere's names.
var diskModes = map[string]discover.DiskMode{
	"persistent": discover.DiskPersistent, "nonpersistent": discover.DiskNonPersistent,
	"independent-persistent": discover.DiskIndependentPersistent, "independent-nonpersistent": discover.DiskIndependentNonPersist,
	"undoable": discover.DiskUndoable, "append": discover.DiskAppend,
}

// diskOf inventories one disk from its keys and, when it can be read, its
// descriptor; what cannot be read is a warning (prefixed with dev).
func diskOf(path string, d Dict, o Options, dev, file string, warns *[]string) discover.Disk {
	warn := func(format string, a ...any) { *warns = append(*warns, dev+": "+fmt.Sprintf(format, a...)) }
	disk := discover.Disk{Mode: discover.DiskPersistent, Sharing: "sharingNone", CapacityUnknown: true}
	if m, ok := diskModes[strings.ToLower(d.Get(dev+".mode"))]; ok {
		disk.Mode = m
	}
	if strings.EqualFold(d.Get(dev+".sharing"), "multi-writer") {
		disk.Sharing = "sharingMultiWriter"
	}
	disk.CBT = d.Bool(dev+".ctkEnabled", false)
	if file == "" {
		warn("no fileName: capacity unknown")
		return disk
	}
	loc := o.locate(filepath.Dir(path), file)
	disk.File, disk.Datastore, disk.SourcePath = loc.file, loc.datastore, loc.source
	if loc.note != "" {
		warn("%s", loc.note)
	}
	if loc.local == "" {
		return disk
	}
	desc, err := ReadDescriptor(loc.local)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		warn("disk %s not found: capacity unknown", loc.local)
		return disk
	case err != nil:
		warn("%v: capacity unknown", err)
		return disk
	}
	for _, w := range desc.Warnings {
		warn("%s", w)
	}
	disk.CapacityBytes, disk.CapacityUnknown = desc.CapacityBytes, false
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
	if desc.RawDevice() {
		disk.Raw = &discover.RawDevice{Kind: desc.CreateType}
		if len(desc.Extents) > 0 {
			disk.Raw.Device = desc.Extents[0]
		}
	}
	if disk.Raw == nil && disk.RDM == nil {
		if refused := confined(loc.local, o); refused != nil {
			// Its chain is not followed either: a parent outside the folder
			// is not opened by discovery.
			disk.Refused = refused.Error()
			warn("%s", disk.Refused)
			return disk
		}
	}
	disk.Chain = chain(o, loc.local, desc, warn)
	return disk
}

// confined checks the files the descriptor at path and its parents name
// (extents, parentFileNameHint) against the path policy the copy applies,
// reading descriptors and extent headers only, never disk data. It returns
// the first name the copy would refuse, or nil; other problems (a missing
// extent) are left to the copy, which reports them.
func confined(path string, o Options) *vmdk.RefusedError {
	img, err := vmdk.Open(path, vmdk.Policy{AllowDirs: o.AllowPaths})
	if err == nil {
		img.Close()
		return nil
	}
	var refused *vmdk.RefusedError
	if errors.As(err, &refused) {
		return refused
	}
	return nil
}

// maxChain bounds a snapshot chain.
const maxChain = 64

// chain follows parentFileNameHint from the descriptor of the local file
// path, returning the parents nearest first (their Disk.File form). A
// parent that cannot be read ends the chain with a warning, as do loops
// and chains longer than maxChain.
func chain(o Options, path string, d *Descriptor, warn func(string, ...any)) []string {
	var out []string
	seen := map[string]bool{path: true}
	for d.ParentHint != "" {
		loc := o.locate(filepath.Dir(path), d.ParentHint)
		if loc.file != "" {
			out = append(out, loc.file)
		}
		switch {
		case loc.note != "":
			warn("parent of %s: %s", path, loc.note)
			return out
		case seen[loc.local] || len(out) > maxChain:
			warn("parent chain of %s loops or is longer than %d at %s: cut there", path, maxChain, loc.local)
			return out[:len(out)-1]
		}
		seen[loc.local] = true
		parent, err := ReadDescriptor(loc.local)
		if err != nil {
			warn("parent of %s: %v", path, err)
			return out
		}
		path, d = loc.local, parent
	}
	return out
}
