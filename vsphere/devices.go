package vsphere

import (
	"fmt"
	"strings"

	"github.com/vmware/govmomi/vim25/types"

	"github.com/podvm-migrate/podvm-migrate/discover"
	"github.com/podvm-migrate/podvm-migrate/disksource"
)

// hardware maps the VM's configuration and device list.
func (r *resolver) hardware(out *discover.VM, cfg *types.VirtualMachineConfigInfo) {
	hw := &out.Hardware
	hw.Version = cfg.Version
	hw.Firmware = discover.FirmwareBIOS
	if cfg.Firmware == string(types.GuestOsDescriptorFirmwareTypeEfi) {
		hw.Firmware = discover.FirmwareEFI
	}
	if b := cfg.BootOptions; b != nil && b.EfiSecureBootEnabled != nil {
		hw.SecureBoot = *b.EfiSecureBootEnabled
	}
	hw.CPUs = int(cfg.Hardware.NumCPU)
	if cfg.Hardware.NumCoresPerSocket != nil {
		hw.CoresPerSocket = int(*cfg.Hardware.NumCoresPerSocket)
	}
	if hw.CoresPerSocket < 1 {
		hw.CoresPerSocket = 1
	}
	hw.Sockets = max(hw.CPUs/hw.CoresPerSocket, 1)
	hw.MemoryMiB = int64(cfg.Hardware.MemoryMB)
	hw.CPUHotAdd = cfg.CpuHotAddEnabled != nil && *cfg.CpuHotAddEnabled
	hw.MemoryHotAdd = cfg.MemoryHotAddEnabled != nil && *cfg.MemoryHotAddEnabled

	ctrls := map[int32]string{}
	for _, d := range cfg.Hardware.Device {
		if c, ok := controller(d); ok {
			ctrls[d.GetVirtualDevice().Key] = c.ID
			hw.Controllers = append(hw.Controllers, c)
		}
	}
	for _, d := range cfg.Hardware.Device {
		dev := d.GetVirtualDevice()
		label := ""
		if dev.DeviceInfo != nil {
			label = dev.DeviceInfo.GetDescription().Label
		}
		switch d := d.(type) {
		case *types.VirtualDisk:
			hw.Disks = append(hw.Disks, r.disk(d, label, ctrls))
		case types.BaseVirtualEthernetCard:
			hw.NICs = append(hw.NICs, r.nic(d, label))
			if s, ok := d.(*types.VirtualSriovEthernetCard); ok {
				detail := ""
				if s.SriovBacking != nil && s.SriovBacking.PhysicalFunctionBacking != nil {
					detail = s.SriovBacking.PhysicalFunctionBacking.Id
				}
				out.State.Devices = append(out.State.Devices, discover.Device{Kind: discover.DeviceSRIOV, Label: label, Detail: detail})
			}
		case *types.VirtualTPM:
			hw.VTPM = true
		case *types.VirtualCdrom:
			hw.CDROMs++
		case *types.VirtualPCIPassthrough:
			kind, detail := discover.DevicePCIPassthrough, ""
			switch b := d.Backing.(type) {
			case *types.VirtualPCIPassthroughDeviceBackingInfo:
				detail = strings.TrimSpace(b.Id + " " + b.DeviceName)
			case *types.VirtualPCIPassthroughVmiopBackingInfo:
				kind, detail = discover.DeviceVGPU, b.Vgpu
			case *types.VirtualPCIPassthroughDynamicBackingInfo:
				detail = "dynamic " + b.DeviceName
			}
			out.State.Devices = append(out.State.Devices, discover.Device{Kind: kind, Label: label, Detail: detail})
		case *types.VirtualUSB:
			detail := ""
			if b, ok := d.Backing.(types.BaseVirtualDeviceDeviceBackingInfo); ok {
				detail = b.GetVirtualDeviceDeviceBackingInfo().DeviceName
			}
			out.State.Devices = append(out.State.Devices, discover.Device{Kind: discover.DeviceUSB, Label: label, Detail: detail})
		case *types.VirtualUSBController:
			out.State.Devices = append(out.State.Devices, discover.Device{Kind: discover.DeviceUSBController, Label: label, Detail: "ehci"})
		case *types.VirtualUSBXHCIController:
			out.State.Devices = append(out.State.Devices, discover.Device{Kind: discover.DeviceUSBController, Label: label, Detail: "xhci"})
		case *types.VirtualSerialPort:
			out.State.Devices = append(out.State.Devices, discover.Device{Kind: discover.DeviceSerial, Label: label, Detail: backingName(d.Backing)})
		case *types.VirtualParallelPort:
			out.State.Devices = append(out.State.Devices, discover.Device{Kind: discover.DeviceParallel, Label: label, Detail: backingName(d.Backing)})
		}
	}
	sortDisks(hw.Disks)
	for _, d := range hw.Disks {
		if d.CBT {
			out.State.CBT = true
		}
	}
}

func backingName(b types.BaseVirtualDeviceBackingInfo) string {
	switch b := b.(type) {
	case types.BaseVirtualDeviceFileBackingInfo:
		return b.GetVirtualDeviceFileBackingInfo().FileName
	case types.BaseVirtualDeviceDeviceBackingInfo:
		return b.GetVirtualDeviceDeviceBackingInfo().DeviceName
	case types.BaseVirtualDeviceURIBackingInfo:
		return b.GetVirtualDeviceURIBackingInfo().ServiceURI
	case types.BaseVirtualDevicePipeBackingInfo:
		return b.GetVirtualDevicePipeBackingInfo().PipeName
	}
	return ""
}

// controller recognises a storage controller.
func controller(d types.BaseVirtualDevice) (discover.Controller, bool) {
	var (
		kind discover.ControllerType
		bus  int32
		pfx  string
	)
	switch c := d.(type) {
	case *types.VirtualIDEController:
		kind, bus, pfx = discover.ControllerIDE, c.BusNumber, "ide"
	case *types.VirtualAHCIController:
		kind, bus, pfx = discover.ControllerSATA, c.BusNumber, "sata"
	case *types.VirtualSATAController:
		kind, bus, pfx = discover.ControllerSATA, c.BusNumber, "sata"
	case *types.VirtualNVMEController:
		kind, bus, pfx = discover.ControllerNVMe, c.BusNumber, "nvme"
	case *types.ParaVirtualSCSIController:
		kind, bus, pfx = discover.ControllerPVSCSI, c.BusNumber, "scsi"
	case *types.VirtualLsiLogicController:
		kind, bus, pfx = discover.ControllerLSILogic, c.BusNumber, "scsi"
	case *types.VirtualLsiLogicSASController:
		kind, bus, pfx = discover.ControllerLSILogicSAS, c.BusNumber, "scsi"
	case *types.VirtualBusLogicController:
		kind, bus, pfx = discover.ControllerBusLogic, c.BusNumber, "scsi"
	case types.BaseVirtualSCSIController:
		kind, bus, pfx = discover.ControllerUnknown, c.GetVirtualSCSIController().BusNumber, "scsi"
	default:
		return discover.Controller{}, false
	}
	c := discover.Controller{ID: fmt.Sprintf("%s%d", pfx, bus), Type: kind, Bus: int(bus)}
	if s, ok := d.(types.BaseVirtualSCSIController); ok {
		c.Sharing = string(s.GetVirtualSCSIController().SharedBus)
	}
	return c, true
}

// disk maps a virtual disk and its backing.
func (r *resolver) disk(d *types.VirtualDisk, label string, ctrls map[int32]string) discover.Disk {
	out := discover.Disk{Label: label, Controller: ctrls[d.ControllerKey], CapacityBytes: d.CapacityInBytes}
	if out.CapacityBytes == 0 {
		out.CapacityBytes = d.CapacityInKB * 1024
	}
	if d.UnitNumber != nil {
		out.Unit = int(*d.UnitNumber)
	}
	if fb, ok := d.Backing.(types.BaseVirtualDeviceFileBackingInfo); ok {
		b := fb.GetVirtualDeviceFileBackingInfo()
		out.File = b.FileName
		out.Datastore = r.name(b.Datastore)
		if out.Datastore == "" || b.Datastore == nil {
			if src, err := disksource.Parse(b.FileName); err == nil && src.Kind == disksource.KindDatastore {
				out.Datastore = src.Datastore
			}
		}
	}
	thin := func(t, eager *bool) discover.Provisioning {
		switch {
		case t != nil && *t:
			return discover.ProvisionThin
		case eager != nil && *eager:
			return discover.ProvisionThickEager
		}
		return discover.ProvisionThickLazy
	}
	switch b := d.Backing.(type) {
	case *types.VirtualDiskFlatVer2BackingInfo:
		out.Mode, out.Sharing, out.UUID = discover.DiskMode(b.DiskMode), b.Sharing, b.Uuid
		out.Provisioning = thin(b.ThinProvisioned, b.EagerlyScrub)
		out.CBT = b.ChangeId != ""
		for p := b.Parent; p != nil; p = p.Parent {
			out.Chain = append(out.Chain, p.FileName)
		}
	case *types.VirtualDiskSeSparseBackingInfo:
		out.Mode, out.UUID, out.Provisioning, out.Format = discover.DiskMode(b.DiskMode), b.Uuid, discover.ProvisionThin, "seSparse"
		out.CBT = b.ChangeId != ""
		for p := b.Parent; p != nil; p = p.Parent {
			out.Chain = append(out.Chain, p.FileName)
		}
	case *types.VirtualDiskSparseVer2BackingInfo:
		out.Mode, out.UUID, out.Provisioning = discover.DiskMode(b.DiskMode), b.Uuid, discover.ProvisionThin
		out.CBT = b.ChangeId != ""
		for p := b.Parent; p != nil; p = p.Parent {
			out.Chain = append(out.Chain, p.FileName)
		}
	case *types.VirtualDiskRawDiskMappingVer1BackingInfo:
		out.Mode, out.Sharing, out.UUID = discover.DiskMode(b.DiskMode), b.Sharing, b.Uuid
		out.CBT = b.ChangeId != ""
		out.RDM = &discover.RDM{Compatibility: b.CompatibilityMode, Device: b.DeviceName, LUNUUID: b.LunUuid}
	case *types.VirtualDiskFlatVer1BackingInfo:
		out.Mode = discover.DiskMode(b.DiskMode)
	case *types.VirtualDiskSparseVer1BackingInfo:
		out.Mode = discover.DiskMode(b.DiskMode)
	}
	return out
}

// nicModel names an ethernet card's emulated model.
func nicModel(d types.BaseVirtualEthernetCard) string {
	switch d.(type) {
	case *types.VirtualVmxnet3, *types.VirtualVmxnet3Vrdma:
		return "vmxnet3"
	case *types.VirtualVmxnet2:
		return "vmxnet2"
	case *types.VirtualVmxnet:
		return "vmxnet"
	case *types.VirtualE1000e:
		return "e1000e"
	case *types.VirtualE1000:
		return "e1000"
	case *types.VirtualPCNet32:
		return "vlance"
	case *types.VirtualSriovEthernetCard:
		return "sriov"
	}
	return "unknown"
}

// nic maps a network adapter and resolves its network.
func (r *resolver) nic(d types.BaseVirtualEthernetCard, label string) discover.NIC {
	c := d.GetVirtualEthernetCard()
	out := discover.NIC{Label: label, Model: nicModel(d), MAC: strings.ToLower(c.MacAddress), AddressType: strings.ToLower(c.AddressType)}
	if out.AddressType == "manual" {
		out.AddressType = "static"
	}
	if ci := c.Connectable; ci != nil {
		out.Connected, out.StartConnected = ci.Connected, ci.StartConnected
	}
	switch b := c.Backing.(type) {
	case *types.VirtualEthernetCardNetworkBackingInfo:
		out.Network = b.DeviceName
		if b.Network != nil {
			out.NetworkID = b.Network.Value
			if out.Network == "" {
				out.Network = r.name(b.Network)
			}
		}
	case *types.VirtualEthernetCardDistributedVirtualPortBackingInfo:
		out.NetworkID = b.Port.PortgroupKey
		out.Network = r.portgroup[b.Port.PortgroupKey]
		if out.Network == "" {
			out.Network = b.Port.PortgroupKey
		}
	case *types.VirtualEthernetCardOpaqueNetworkBackingInfo:
		out.NetworkID = b.OpaqueNetworkId
		out.Network = b.OpaqueNetworkId
		for ref, o := range r.col.objects {
			if ref.Type == "OpaqueNetwork" && o.name != "" && o.key == b.OpaqueNetworkId {
				out.Network = o.name
			}
		}
	}
	return out
}
