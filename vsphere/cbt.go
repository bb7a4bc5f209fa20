package vsphere

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/task"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// SnapshotPrefix starts the name of every snapshot warm migration takes, so
// that one an interrupted run left behind is found and removed.
const SnapshotPrefix = "podvm-migrate-precopy"

// WarmState is what warm migration needs to know of a VM.
type WarmState struct {
	PowerState string // poweredOn, poweredOff, suspended
	CBT        bool   // config.changeTrackingEnabled
	// Snapshots are the VM's snapshots whose name starts with SnapshotPrefix.
	Snapshots []Snapshot
}

// Snapshot is one snapshot of a VM.
type Snapshot struct {
	Name string
	Ref  string // moref, e.g. "snapshot-42"
}

// VMWarmState reads the power state, the CBT setting and the migration
// snapshots of the VM moref.
func (c *Conn) VMWarmState(ctx context.Context, moref string) (*WarmState, error) {
	var vm mo.VirtualMachine
	pc := property.DefaultCollector(c.Client)
	if err := pc.RetrieveOne(ctx, vmRef(moref), []string{"runtime.powerState", "config.changeTrackingEnabled", "snapshot"}, &vm); err != nil {
		return nil, fmt.Errorf("VM %s: %w", moref, err)
	}
	st := &WarmState{PowerState: string(vm.Runtime.PowerState)}
	if vm.Config != nil && vm.Config.ChangeTrackingEnabled != nil {
		st.CBT = *vm.Config.ChangeTrackingEnabled
	}
	if vm.Snapshot != nil {
		var walk func([]types.VirtualMachineSnapshotTree)
		walk = func(tree []types.VirtualMachineSnapshotTree) {
			for _, s := range tree {
				if strings.HasPrefix(s.Name, SnapshotPrefix) {
					st.Snapshots = append(st.Snapshots, Snapshot{Name: s.Name, Ref: s.Snapshot.Value})
				}
				walk(s.ChildSnapshotList)
			}
		}
		walk(vm.Snapshot.RootSnapshotList)
	}
	return st, nil
}

// EnableCBT switches changed block tracking on for the VM moref. CBT
// starts tracking only after a stun, so a powered-on VM gets one: a
// snapshot taken and removed at once.
func (c *Conn) EnableCBT(ctx context.Context, moref string) error {
	vm := object.NewVirtualMachine(c.Client, vmRef(moref))
	on := true
	t, err := vm.Reconfigure(ctx, types.VirtualMachineConfigSpec{ChangeTrackingEnabled: &on})
	if err == nil {
		err = t.Wait(ctx)
	}
	if err != nil {
		return fmt.Errorf("enable CBT on VM %s: %w (the VM needs hardware version 7 or later and no existing snapshots)", moref, err)
	}
	st, err := c.VMWarmState(ctx, moref)
	if err != nil {
		return err
	}
	if st.PowerState != string(types.VirtualMachinePowerStatePoweredOn) {
		return nil
	}
	snap, err := c.CreateSnapshot(ctx, moref, SnapshotPrefix+"-stun")
	if err != nil {
		return fmt.Errorf("enable CBT on VM %s: the stun snapshot: %w", moref, err)
	}
	return c.RemoveSnapshot(ctx, snap)
}

// CreateSnapshot takes a snapshot of the VM moref without memory and
// without quiescing (a crash-consistent point, as CBT backups take) and
// returns its moref.
func (c *Conn) CreateSnapshot(ctx context.Context, moref, name string) (string, error) {
	vm := object.NewVirtualMachine(c.Client, vmRef(moref))
	t, err := vm.CreateSnapshot(ctx, name, "taken by podvm-migrate for a warm migration; removed when it ends", false, false)
	if err != nil {
		return "", fmt.Errorf("snapshot VM %s: %w", moref, err)
	}
	info, err := t.WaitForResult(ctx)
	if err != nil {
		return "", fmt.Errorf("snapshot VM %s: %w", moref, err)
	}
	ref, ok := info.Result.(types.ManagedObjectReference)
	if !ok {
		return "", fmt.Errorf("snapshot VM %s: the task returned %T, not a snapshot", moref, info.Result)
	}
	return ref.Value, nil
}

// RemoveSnapshot removes the snapshot snap (a moref), merging its delta
// into its parent; its children stay. A snapshot that is already gone is
// not an error.
func (c *Conn) RemoveSnapshot(ctx context.Context, snap string) error {
	ref := types.ManagedObjectReference{Type: "VirtualMachineSnapshot", Value: snap}
	consolidate := true
	res, err := methods.RemoveSnapshot_Task(ctx, c.Client, &types.RemoveSnapshot_Task{This: ref, RemoveChildren: false, Consolidate: &consolidate})
	if err == nil {
		err = object.NewTask(c.Client, res.Returnval).Wait(ctx)
	}
	if err != nil {
		if isNotFound(err) {
			return nil
		}
		return fmt.Errorf("remove snapshot %s: %w", snap, err)
	}
	return nil
}

func isNotFound(err error) bool {
	if soap.IsSoapFault(err) {
		switch soap.ToSoapFault(err).VimFault().(type) {
		case types.ManagedObjectNotFound, *types.ManagedObjectNotFound:
			return true
		}
		return false
	}
	var te task.Error
	if errors.As(err, &te) {
		_, ok := te.Fault().(*types.ManagedObjectNotFound)
		return ok
	}
	return false
}

// SnapshotDisk is one disk as a snapshot froze it.
type SnapshotDisk struct {
	Key      int32  // device key
	File     string // "[datastore] folder/disk-000001.vmdk": the frozen top of the chain
	Capacity int64  // bytes
	ChangeID string // the CBT change id at the snapshot; "" without CBT
	// Chain is File and its parents down to the base disk.
	Chain []string
}

// SnapshotDisks returns the disks of snapshot snap as it froze them.
func (c *Conn) SnapshotDisks(ctx context.Context, snap string) ([]SnapshotDisk, error) {
	var s mo.VirtualMachineSnapshot
	pc := property.DefaultCollector(c.Client)
	ref := types.ManagedObjectReference{Type: "VirtualMachineSnapshot", Value: snap}
	if err := pc.RetrieveOne(ctx, ref, []string{"config.hardware.device"}, &s); err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", snap, err)
	}
	return disksOf(s.Config.Hardware.Device), nil
}

// CurrentDisks returns the power state of the VM moref and its disks as
// they are now: each one's File is the top of its chain, the file the VM
// writes.
func (c *Conn) CurrentDisks(ctx context.Context, moref string) (string, []SnapshotDisk, error) {
	var vm mo.VirtualMachine
	pc := property.DefaultCollector(c.Client)
	if err := pc.RetrieveOne(ctx, vmRef(moref), []string{"runtime.powerState", "config.hardware.device"}, &vm); err != nil {
		return "", nil, fmt.Errorf("VM %s: %w", moref, err)
	}
	if vm.Config == nil {
		return string(vm.Runtime.PowerState), nil, nil
	}
	return string(vm.Runtime.PowerState), disksOf(vm.Config.Hardware.Device), nil
}

// disksOf reads the disks among devices, their chains and change ids.
func disksOf(devices []types.BaseVirtualDevice) []SnapshotDisk {
	var out []SnapshotDisk
	for _, dev := range devices {
		d, ok := dev.(*types.VirtualDisk)
		if !ok {
			continue
		}
		sd := SnapshotDisk{Key: d.Key, Capacity: d.CapacityInBytes}
		if sd.Capacity == 0 {
			sd.Capacity = d.CapacityInKB * 1024
		}
		for b := d.Backing; b != nil; {
			fb, ok := b.(types.BaseVirtualDeviceFileBackingInfo)
			if !ok {
				break
			}
			sd.Chain = append(sd.Chain, fb.GetVirtualDeviceFileBackingInfo().FileName)
			b = nil
			switch v := fb.(type) {
			case *types.VirtualDiskFlatVer2BackingInfo:
				if sd.ChangeID == "" && len(sd.Chain) == 1 {
					sd.ChangeID = v.ChangeId
				}
				if v.Parent != nil {
					b = v.Parent
				}
			case *types.VirtualDiskSeSparseBackingInfo:
				if len(sd.Chain) == 1 {
					sd.ChangeID = v.ChangeId
				}
				if v.Parent != nil {
					b = v.Parent
				}
			case *types.VirtualDiskSparseVer2BackingInfo:
				if len(sd.Chain) == 1 {
					sd.ChangeID = v.ChangeId
				}
				if v.Parent != nil {
					b = v.Parent
				}
			}
		}
		if len(sd.Chain) > 0 {
			sd.File = sd.Chain[0]
		}
		out = append(out, sd)
	}
	return out
}

// Extent is a byte range of a disk.
type Extent struct {
	Offset, Length int64
}

// ErrChangeIDInvalid is returned by ChangedAreas when vCenter no longer
// knows changeID (CBT was reset, the disk grew, or the id is from another
// VM): the disk must be copied in full again.
var ErrChangeIDInvalid = errors.New("the CBT change id is no longer valid")

// ChangedAreas returns the areas of disk key written between changeID and
// snapshot snap of the VM moref, in order; changeID "*" returns every
// allocated area. Without a snapshot (snap "") it answers for the disk as
// it is, which vCenter allows for a powered-off VM only. It follows
// vCenter's paging up to capacity bytes.
func (c *Conn) ChangedAreas(ctx context.Context, moref, snap string, key int32, changeID string, capacity int64) ([]Extent, error) {
	var snapRef *types.ManagedObjectReference
	if snap != "" {
		snapRef = &types.ManagedObjectReference{Type: "VirtualMachineSnapshot", Value: snap}
	}
	var out []Extent
	for start := int64(0); start < capacity; {
		res, err := methods.QueryChangedDiskAreas(ctx, c.Client, &types.QueryChangedDiskAreas{
			This: vmRef(moref), Snapshot: snapRef, DeviceKey: key, StartOffset: start, ChangeId: changeID})
		if err != nil {
			if changeID != "*" && soap.IsSoapFault(err) {
				return nil, fmt.Errorf("changed areas of disk %d of VM %s since %s: %w (%w)", key, moref, changeID, ErrChangeIDInvalid, err)
			}
			return nil, fmt.Errorf("changed areas of disk %d of VM %s since %s: %w", key, moref, changeID, err)
		}
		info := res.Returnval
		for _, a := range info.ChangedArea {
			if n := len(out); n > 0 && out[n-1].Offset+out[n-1].Length == a.Start {
				out[n-1].Length += a.Length
				continue
			}
			out = append(out, Extent{Offset: a.Start, Length: a.Length})
		}
		next := info.StartOffset + info.Length
		if next <= start {
			return nil, fmt.Errorf("changed areas of disk %d of VM %s: vCenter answered for %d bytes from %d, making no progress", key, moref, info.Length, start)
		}
		start = next
	}
	return out, nil
}
