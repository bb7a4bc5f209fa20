package vcsim

import (
	"fmt"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// setRuntimeState writes what only a running guest or vCenter itself
// would report (guest tools info with IPs and file systems, fault
// tolerance, consolidation) straight into the simulator's objects.
func (v *Simulator) setRuntimeState() {
	ctx := v.model.Service.Context
	for i, sv := range v.VMs {
		obj, ok := v.model.Map().Get(types.ManagedObjectReference{Type: "VirtualMachine", Value: sv.MoRef}).(*simulator.VirtualMachine)
		if !ok {
			continue
		}
		ctx.WithLock(obj, func() {
			g := obj.Guest
			if g == nil {
				g = &types.GuestInfo{}
				obj.Guest = g
			}
			g.GuestId = obj.Config.GuestId
			if sv.PowerState == "poweredOn" {
				ip := fmt.Sprintf("10.%d.%d.%d", 20+i/65536%200, i/256%256, i%256)
				g.ToolsStatus = types.VirtualMachineToolsStatusToolsOk
				g.ToolsRunningStatus = string(types.VirtualMachineToolsRunningStatusGuestToolsRunning)
				g.ToolsVersion = "12352"
				g.HostName = sv.Name + ".example.internal"
				g.IpAddress = ip
				for n := range g.Net {
					g.Net[n].IpAddress = []string{fmt.Sprintf("10.%d.%d.%d", 20+n+i/65536%200, i/256%256, i%256), fmt.Sprintf("fe80::%x:%x", n+1, i)}
				}
				if len(g.Net) == 0 {
					g.Net = []types.GuestNicInfo{{IpAddress: []string{ip}, Connected: true}}
				}
				g.Disk = []types.GuestDiskInfo{
					{DiskPath: "/", Capacity: 60 << 20, FreeSpace: int64(30+i%20) << 20, FilesystemType: "ext4"},
					{DiskPath: "/boot/efi", Capacity: 30 << 20, FreeSpace: 20 << 20, FilesystemType: "vfat"},
				}
				g.GuestFamily = string(types.VirtualMachineGuestOsFamilyLinuxGuest)
				g.GuestFullName = "Debian GNU/Linux 12 (64-bit)"
				if obj.Config.GuestId == "windows2019srv_64Guest" {
					g.GuestFamily = string(types.VirtualMachineGuestOsFamilyWindowsGuest)
					g.GuestFullName = "Microsoft Windows Server 2019 (64-bit)"
					g.Disk = []types.GuestDiskInfo{{DiskPath: "C:\\", Capacity: 60 << 20, FreeSpace: 12 << 20, FilesystemType: "NTFS"}}
				}
				obj.Summary.Guest = &types.VirtualMachineGuestSummary{GuestId: g.GuestId, GuestFullName: g.GuestFullName,
					ToolsStatus: g.ToolsStatus, ToolsRunningStatus: g.ToolsRunningStatus, HostName: g.HostName, IpAddress: ip}
			} else {
				g.ToolsStatus = types.VirtualMachineToolsStatusToolsNotRunning
				g.ToolsRunningStatus = string(types.VirtualMachineToolsRunningStatusGuestToolsNotRunning)
				g.IpAddress = ""
				g.Disk = nil
			}
			if sv.Has("consolidation") {
				obj.Runtime.ConsolidationNeeded = true
			}
			if sv.Has("faultTolerance") {
				obj.Runtime.FaultToleranceState = types.VirtualMachineFaultToleranceStateRunning
			}
		})
	}
}
