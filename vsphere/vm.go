package vsphere

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/podvm-migrate/podvm-migrate/discover"
)

// toVM turns one retrieved VirtualMachine into the inventory model.
func (r *resolver) toVM(vm *mo.VirtualMachine, endpoint string) discover.VM {
	out := discover.VM{Name: vm.Name, Source: discover.SourceRef{Kind: discover.SourceVSphere, Endpoint: endpoint}}
	id := &out.Identity
	id.MoRef = vm.Self.Value
	parent := vm.Parent
	if parent == nil {
		parent = vm.ParentVApp
	}
	id.Folder = r.path(parent)
	id.InventoryPath = id.Folder + "/" + escapeName(vm.Name)
	id.Datacenter = r.name(r.ancestor(parent, "Datacenter"))
	id.Host = r.name(vm.Runtime.Host)
	id.Cluster = r.name(r.cluster(vm.Runtime.Host))
	id.ResourcePool = r.path(vm.ResourcePool)

	st := &out.State
	st.Power = discover.PowerState(vm.Runtime.PowerState)
	st.ConnectionState = string(vm.Runtime.ConnectionState)
	st.ConsolidationNeeded = vm.Runtime.ConsolidationNeeded
	if ft := vm.Runtime.FaultToleranceState; ft != "" && ft != types.VirtualMachineFaultToleranceStateNotConfigured {
		st.FaultTolerance = string(ft)
	}
	if c := r.cluster(vm.Runtime.Host); c != nil {
		if o := r.col.objects[*c]; o != nil && o.clusterx != nil {
			st.Cluster = clusterServices(o.clusterx)
		}
	}
	st.HostAffinity = append(st.HostAffinity, r.vmHosts[vm.Self]...)

	if cfg := vm.Config; cfg != nil {
		id.InstanceUUID = cfg.InstanceUuid
		id.BIOSUUID = cfg.Uuid
		id.Template = cfg.Template
		id.VMXPath = cfg.Files.VmPathName
		out.Guest.GuestID = cfg.GuestId
		out.Guest.FullName = cfg.GuestFullName
		st.CBT = cfg.ChangeTrackingEnabled != nil && *cfg.ChangeTrackingEnabled
		if cfg.CpuAffinity != nil {
			for _, c := range cfg.CpuAffinity.AffinitySet {
				st.CPUAffinity = append(st.CPUAffinity, int(c))
			}
		}
		st.NUMAAffinity = numaAffinity(cfg.ExtraConfig)
		r.hardware(&out, cfg)
	}
	r.guest(&out, vm.Guest)
	if vm.Snapshot != nil {
		st.Snapshots, st.CurrentSnapshot = snapshots(vm.Snapshot)
	}
	// A device bound to the host's hardware pins the VM to that host.
	for _, d := range st.Devices {
		if d.Kind == discover.DevicePCIPassthrough || d.Kind == discover.DeviceSRIOV || d.Kind == discover.DeviceVGPU || d.Kind == discover.DeviceUSB {
			if id.Host != "" && !contains(st.HostAffinity, id.Host) {
				st.HostAffinity = append(st.HostAffinity, id.Host)
			}
			break
		}
	}
	return out
}

func clusterServices(cx *types.ClusterConfigInfoEx) *discover.Cluster {
	c := &discover.Cluster{}
	c.DRS = cx.DrsConfig.Enabled != nil && *cx.DrsConfig.Enabled
	c.HA = cx.DasConfig.Enabled != nil && *cx.DasConfig.Enabled
	c.DPM = cx.DpmConfigInfo != nil && cx.DpmConfigInfo.Enabled != nil && *cx.DpmConfigInfo.Enabled
	return c
}

// numaAffinity reads numa.nodeAffinity ("0,1") from the extra config.
func numaAffinity(extra []types.BaseOptionValue) []int {
	for _, o := range extra {
		ov := o.GetOptionValue()
		if !strings.EqualFold(ov.Key, "numa.nodeAffinity") {
			continue
		}
		s, _ := ov.Value.(string)
		var nodes []int
		for _, f := range strings.Split(s, ",") {
			if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil {
				nodes = append(nodes, n)
			}
		}
		return nodes
	}
	return nil
}

// guest copies what the guest tools report.
func (r *resolver) guest(out *discover.VM, g *types.GuestInfo) {
	if g == nil {
		return
	}
	gu := &out.Guest
	if g.GuestId != "" && gu.GuestID == "" {
		gu.GuestID = g.GuestId
	}
	if g.GuestFullName != "" {
		gu.FullName = g.GuestFullName
	}
	gu.Family = g.GuestFamily
	gu.Hostname = g.HostName
	gu.ToolsStatus = string(g.ToolsStatus)
	gu.ToolsRunningStatus = g.ToolsRunningStatus
	gu.ToolsVersion = g.ToolsVersion
	seen := map[string]bool{}
	add := func(ip string) {
		if ip != "" && !seen[ip] {
			seen[ip] = true
			gu.IPAddresses = append(gu.IPAddresses, ip)
		}
	}
	add(g.IpAddress)
	for _, n := range g.Net {
		for _, ip := range n.IpAddress {
			add(ip)
		}
	}
	for _, d := range g.Disk {
		gu.Disks = append(gu.Disks, discover.GuestDisk{Path: d.DiskPath, FilesystemType: d.FilesystemType, CapacityBytes: d.Capacity, FreeBytes: d.FreeSpace})
	}
}

// snapshots flattens the snapshot tree, parents first.
func snapshots(info *types.VirtualMachineSnapshotInfo) ([]discover.Snapshot, string) {
	var out []discover.Snapshot
	current := ""
	var walk func(prefix string, list []types.VirtualMachineSnapshotTree)
	walk = func(prefix string, list []types.VirtualMachineSnapshotTree) {
		for _, s := range list {
			p := s.Name
			if prefix != "" {
				p = prefix + "/" + s.Name
			}
			out = append(out, discover.Snapshot{Name: s.Name, Path: p, Created: s.CreateTime.UTC(), Quiesced: s.Quiesced,
				Memory: s.State == types.VirtualMachinePowerStatePoweredOn})
			if info.CurrentSnapshot != nil && s.Snapshot == *info.CurrentSnapshot {
				current = p
			}
			walk(p, s.ChildSnapshotList)
		}
	}
	walk("", info.RootSnapshotList)
	return out, current
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// sortDisks orders disks the way vSphere numbers them (SCSI, SATA, NVMe,
// IDE; then bus and unit), so the usual boot disk comes first.
func sortDisks(d []discover.Disk) {
	rank := func(id string) string {
		for i, p := range []string{"scsi", "sata", "nvme", "ide"} {
			if strings.HasPrefix(id, p) {
				return fmt.Sprintf("%d%03s", i, strings.TrimPrefix(id, p))
			}
		}
		return "9" + id
	}
	sort.SliceStable(d, func(i, j int) bool {
		if ri, rj := rank(d[i].Controller), rank(d[j].Controller); ri != rj {
			return ri < rj
		}
		return d[i].Unit < d[j].Unit
	})
}
