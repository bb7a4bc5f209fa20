package vcsim

import (
	"fmt"

	"github.com/vmware/govmomi/vim25/types"
)

// specBuilder collects the device changes of one VM spec, handing out
// the temporary negative keys devices refer to each other by.
type specBuilder struct {
	key     int32
	changes []types.BaseVirtualDeviceConfigSpec
}

func (b *specBuilder) add(d types.BaseVirtualDevice) int32 {
	b.key--
	d.GetVirtualDevice().Key = b.key
	b.changes = append(b.changes, &types.VirtualDeviceConfigSpec{Operation: types.VirtualDeviceConfigSpecOperationAdd, Device: d})
	return b.key
}

func (b *specBuilder) nic(model string, backing types.BaseVirtualDeviceBackingInfo, connected bool) {
	card := types.VirtualEthernetCard{
		VirtualDevice: types.VirtualDevice{Backing: backing,
			Connectable: &types.VirtualDeviceConnectInfo{StartConnected: connected, Connected: connected, AllowGuestControl: true}},
		AddressType: string(types.VirtualEthernetCardMacTypeGenerated),
	}
	var d types.BaseVirtualDevice
	switch model {
	case "e1000":
		d = &types.VirtualE1000{VirtualEthernetCard: card}
	case "e1000e":
		d = &types.VirtualE1000e{VirtualEthernetCard: card}
	case "vmxnet2":
		d = &types.VirtualVmxnet2{VirtualVmxnet: types.VirtualVmxnet{VirtualEthernetCard: card}}
	case "pcnet32":
		d = &types.VirtualPCNet32{VirtualEthernetCard: card}
	default:
		d = &types.VirtualVmxnet3{VirtualVmxnet: types.VirtualVmxnet{VirtualEthernetCard: card}}
	}
	b.add(d)
}

func (b *specBuilder) disk(ctrl, unit int32, file string, ds types.ManagedObjectReference, capacity int64, mode, sharing string, thin, eager bool) {
	d := &types.VirtualDisk{
		VirtualDevice: types.VirtualDevice{ControllerKey: ctrl, UnitNumber: types.NewInt32(unit),
			Backing: &types.VirtualDiskFlatVer2BackingInfo{
				VirtualDeviceFileBackingInfo: types.VirtualDeviceFileBackingInfo{FileName: file, Datastore: &ds},
				DiskMode:                     mode, ThinProvisioned: types.NewBool(thin), EagerlyScrub: types.NewBool(eager), Sharing: sharing,
			}},
		CapacityInBytes: capacity, CapacityInKB: capacity / 1024,
	}
	b.add(d) // FileOperation "": attach the existing file, never create it
}

// vmSpec builds the create spec of VM i and places its disk files.
func (v *Simulator) vmSpec(inv *simInventory, disks *diskMaker, i int, name string, sv VM) (types.VirtualMachineConfigSpec, []string, error) {
	shape := cpuShapes[i%len(cpuShapes)]
	spec := types.VirtualMachineConfigSpec{
		Name:              name,
		GuestId:           guestIDs[i%len(guestIDs)],
		NumCPUs:           shape[0],
		NumCoresPerSocket: types.NewInt32(shape[1]),
		MemoryMB:          int64(512 << (i % 4)),
		Firmware:          "bios",
		Version:           "vmx-19",
		Files:             &types.VirtualMachineFileInfo{VmPathName: fmt.Sprintf("[datastore1] %s/%s.vmx", name, name)},
	}
	if sv.Has("efi") {
		spec.Firmware = "efi"
		spec.Version = "vmx-20"
		spec.BootOptions = &types.VirtualMachineBootOptions{EfiSecureBootEnabled: types.NewBool(sv.Has("secureBoot"))}
	}
	if sv.Has("cbt") || v.cbtAll {
		spec.ChangeTrackingEnabled = types.NewBool(true)
	}
	if sv.Has("cbt") {
		spec.CpuHotAddEnabled = types.NewBool(true)
		spec.MemoryHotAddEnabled = types.NewBool(true)
	}
	if sv.Has("cpuAffinity") {
		spec.CpuAffinity = &types.VirtualMachineAffinityInfo{AffinitySet: []int32{0, 1}}
		spec.ExtraConfig = []types.BaseOptionValue{&types.OptionValue{Key: "numa.nodeAffinity", Value: "0"}}
	}
	b := &specBuilder{}
	var paths []string

	scsi := b.add(scsiController(scsiTypes[(i/4)%len(scsiTypes)], 0, types.VirtualSCSISharingNoSharing))
	first, capacity, err := disks.primary(name)
	if err != nil {
		return spec, nil, err
	}
	mode := string(types.VirtualDiskModePersistent)
	if sv.Has("independentNonPersist") {
		mode = string(types.VirtualDiskModeIndependent_nonpersistent)
	}
	b.disk(scsi, 0, first, inv.datastores["datastore1"], capacity, mode, "", true, false)
	paths = append(paths, first)

	ide := b.add(&types.VirtualIDEController{VirtualController: types.VirtualController{BusNumber: 0}})
	b.add(&types.VirtualCdrom{VirtualDevice: types.VirtualDevice{ControllerKey: ide, UnitNumber: types.NewInt32(0),
		Backing: &types.VirtualCdromRemotePassthroughBackingInfo{VirtualDeviceRemoteDeviceBackingInfo: types.VirtualDeviceRemoteDeviceBackingInfo{DeviceName: ""}}}})

	b.nic(nicTypes[(i/2)%len(nicTypes)], inv.stdNet, true)
	if sv.Has("multiNIC") {
		b.nic("e1000e", inv.dvpg, true)
	}
	if sv.Has("thirdNIC") {
		b.nic("e1000", inv.stdNet, false)
	}
	if sv.Has("independentDisk") {
		sata := b.add(&types.VirtualAHCIController{VirtualSATAController: types.VirtualSATAController{VirtualController: types.VirtualController{BusNumber: 0}}})
		p, c, err := disks.flat("datastore2", name, name+"_1", 32<<20)
		if err != nil {
			return spec, nil, err
		}
		b.disk(sata, 0, p, inv.datastores["datastore2"], c, string(types.VirtualDiskModeIndependent_persistent), "", false, true)
		paths = append(paths, p)
	}
	if sv.Has("nvme") {
		nvme := b.add(&types.VirtualNVMEController{VirtualController: types.VirtualController{BusNumber: 0}})
		p, c, err := disks.flat("datastore1", name, name+"_2", 16<<20)
		if err != nil {
			return spec, nil, err
		}
		b.disk(nvme, 0, p, inv.datastores["datastore1"], c, string(types.VirtualDiskModePersistent), "", false, false)
		paths = append(paths, p)
	}
	if sv.Has("rdm") || sv.Has("sharedDisk") {
		scsi1 := b.add(scsiController("lsilogic-sas", 1, types.VirtualSCSISharingPhysicalSharing))
		if sv.Has("sharedDisk") {
			p, c, err := disks.shared()
			if err != nil {
				return spec, nil, err
			}
			b.disk(scsi1, 0, p, inv.datastores["datastore1"], c, string(types.VirtualDiskModeIndependent_persistent), string(types.VirtualDiskSharingSharingMultiWriter), false, true)
			paths = append(paths, p)
		}
		if sv.Has("rdm") {
			p, lun, err := disks.rdm(name)
			if err != nil {
				return spec, nil, err
			}
			ds := inv.datastores["datastore1"]
			b.add(&types.VirtualDisk{
				VirtualDevice: types.VirtualDevice{ControllerKey: scsi1, UnitNumber: types.NewInt32(1),
					Backing: &types.VirtualDiskRawDiskMappingVer1BackingInfo{
						VirtualDeviceFileBackingInfo: types.VirtualDeviceFileBackingInfo{FileName: p, Datastore: &ds},
						CompatibilityMode:            string(types.VirtualDiskCompatibilityModePhysicalMode),
						DiskMode:                     string(types.VirtualDiskModeIndependent_persistent),
						DeviceName:                   "/vmfs/devices/disks/naa." + lun,
						LunUuid:                      "0200000000" + lun + "4c554e",
					}},
				CapacityInBytes: 1 << 30, CapacityInKB: 1 << 20,
			})
			paths = append(paths, p)
		}
	}
	if sv.Has("vtpm") {
		b.add(&types.VirtualTPM{})
	}
	if sv.Has("usb") {
		xhci := b.add(&types.VirtualUSBXHCIController{VirtualController: types.VirtualController{BusNumber: 0}})
		b.add(&types.VirtualUSB{VirtualDevice: types.VirtualDevice{ControllerKey: xhci,
			Backing: &types.VirtualUSBUSBBackingInfo{VirtualDeviceDeviceBackingInfo: types.VirtualDeviceDeviceBackingInfo{DeviceName: "path:1/0/3 version:3"}}},
			Connected: true, Vendor: 0x0781, Product: 0x5581})
	}
	if sv.Has("pciPassthrough") {
		b.add(&types.VirtualPCIPassthrough{VirtualDevice: types.VirtualDevice{
			Backing: &types.VirtualPCIPassthroughDeviceBackingInfo{Id: "0000:3b:00.0", DeviceId: "1eb8", SystemId: "5d2f1b2c-0000-0000-0000-000000000001", VendorId: 0x10de, // NVIDIA (vSphere stores the id as int16)

				VirtualDeviceDeviceBackingInfo: types.VirtualDeviceDeviceBackingInfo{DeviceName: "NVIDIA Tesla T4"}}}})
	}
	if sv.Has("sriov") {
		b.add(&types.VirtualSriovEthernetCard{
			VirtualEthernetCard: types.VirtualEthernetCard{VirtualDevice: types.VirtualDevice{Backing: inv.stdNet,
				Connectable: &types.VirtualDeviceConnectInfo{StartConnected: true, Connected: true}}, AddressType: string(types.VirtualEthernetCardMacTypeGenerated)},
			SriovBacking: &types.VirtualSriovEthernetCardSriovBackingInfo{
				PhysicalFunctionBacking: &types.VirtualPCIPassthroughDeviceBackingInfo{Id: "0000:5e:00.0", DeviceId: "1593", VendorId: -32634}},
		})
	}
	spec.DeviceChange = b.changes
	return spec, paths, nil
}

// scsiController returns a SCSI controller of the given kind.
func scsiController(kind string, bus int32, sharing types.VirtualSCSISharing) types.BaseVirtualDevice {
	c := types.VirtualSCSIController{VirtualController: types.VirtualController{BusNumber: bus}, SharedBus: sharing, ScsiCtlrUnitNumber: 7}
	switch kind {
	case "lsilogic":
		return &types.VirtualLsiLogicController{VirtualSCSIController: c}
	case "lsilogic-sas":
		return &types.VirtualLsiLogicSASController{VirtualSCSIController: c}
	case "buslogic":
		return &types.VirtualBusLogicController{VirtualSCSIController: c}
	default:
		return &types.ParaVirtualSCSIController{VirtualSCSIController: c}
	}
}
