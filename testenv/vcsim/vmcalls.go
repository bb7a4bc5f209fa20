package vcsim

import (
	"errors"
	"fmt"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// cbtVM answers the snapshot, reconfigure and changed-area calls of a
// simulator VirtualMachine. It is an object of its own in the registry
// (the simulator dispatches to the object a session finds for a call's
// moref), so its methods lock the VM themselves: a task locks its entity.
type cbtVM struct {
	Self types.ManagedObjectReference
	vm   *simulator.VirtualMachine
	d    *cbtDouble
}

// Reference is the call object's own moref.
func (w *cbtVM) Reference() types.ManagedObjectReference { return w.Self }

// cbtSnapshot answers RemoveSnapshot_Task of a simulator snapshot: its
// removal merges its delta.
type cbtSnapshot struct {
	Self types.ManagedObjectReference
	snap *simulator.VirtualMachineSnapshot
	d    *cbtDouble
}

// Reference is the call object's own moref.
func (w *cbtSnapshot) Reference() types.ManagedObjectReference { return w.Self }

// waitTask waits for the simulator task ref and returns its result.
func waitSimTask(ctx *simulator.Context, ref types.ManagedObjectReference) (types.AnyType, types.BaseMethodFault) {
	t, ok := ctx.Map.Get(ref).(*simulator.Task)
	if !ok {
		return nil, &types.ManagedObjectNotFound{Obj: ref}
	}
	t.Wait()
	if t.Info.Error != nil {
		return nil, t.Info.Error.Fault
	}
	return t.Info.Result, nil
}

func fileFault(file, format string, a ...any) types.BaseMethodFault {
	return &types.FileFault{File: file, VimFault: types.VimFault{MethodFault: types.MethodFault{
		FaultMessage: []types.LocalizableMessage{{Key: "com.vmware.vim.vpxd.vmcheck.fileFault", Message: fmt.Sprintf(format, a...)}}}}}
}

// CreateSnapshotTask is CreateSnapshot_Task with delta disks.
func (w *cbtVM) CreateSnapshotTask(ctx *simulator.Context, req *types.CreateSnapshot_Task) soap.HasFault {
	task := simulator.CreateTask(w.vm, "createSnapshot", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
		return w.d.createSnapshot(ctx, w.vm, func() (types.ManagedObjectReference, *soap.Fault) {
			res := w.vm.CreateSnapshotTask(ctx, req).(*methods.CreateSnapshot_TaskBody)
			if res.Fault_ != nil {
				return types.ManagedObjectReference{}, res.Fault_
			}
			return res.Res.Returnval, nil
		})
	})
	return &methods.CreateSnapshot_TaskBody{Res: &types.CreateSnapshot_TaskResponse{Returnval: task.Run(ctx)}}
}

// CreateSnapshotExTask is CreateSnapshotEx_Task with delta disks.
func (w *cbtVM) CreateSnapshotExTask(ctx *simulator.Context, req *types.CreateSnapshotEx_Task) soap.HasFault {
	task := simulator.CreateTask(w.vm, "createSnapshotEx", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
		return w.d.createSnapshot(ctx, w.vm, func() (types.ManagedObjectReference, *soap.Fault) {
			res := w.vm.CreateSnapshotExTask(ctx, req).(*methods.CreateSnapshotEx_TaskBody)
			if res.Fault_ != nil {
				return types.ManagedObjectReference{}, res.Fault_
			}
			return res.Res.Returnval, nil
		})
	})
	return &methods.CreateSnapshotEx_TaskBody{Res: &types.CreateSnapshotEx_TaskResponse{Returnval: task.Run(ctx)}}
}

// createSnapshot stuns the VM, gives each disk a delta file, lets the
// simulator record the snapshot (its config holds the frozen files and
// their changeIds) and then points the VM's disks at the deltas.
func (d *cbtDouble) createSnapshot(ctx *simulator.Context, vm *simulator.VirtualMachine, inner func() (types.ManagedObjectReference, *soap.Fault)) (types.AnyType, types.BaseMethodFault) {
	on := isTrue(vm.Config.ChangeTrackingEnabled)
	disks := d.vmDisks(vm)
	deltas := make([]*chainFile, len(disks))
	undo := func() {
		for i, td := range disks {
			if deltas[i] == nil {
				continue
			}
			td.mu.Lock()
			if err := td.consolidate(len(td.chain) - 1); err != nil {
				d.log("vsphere simulator: undo snapshot of %s: %v", vm.Name, err)
			}
			td.mu.Unlock()
		}
	}
	for i, td := range disks {
		td.mu.Lock()
		c, err := td.snapshot(on)
		id := td.changeID()
		td.mu.Unlock()
		if err != nil {
			undo()
			return nil, fileFault(td.chain[len(td.chain)-1].dsPath, "cannot create the delta disk: %v", err)
		}
		deltas[i] = c
		setChangeID(vm.Config.Hardware.Device, td.key, id)
	}
	ref, fault := inner()
	if fault != nil {
		undo()
		return nil, fault.Detail.Fault.(types.BaseMethodFault)
	}
	res, mf := waitSimTask(ctx, ref)
	if mf != nil {
		undo()
		return nil, mf
	}
	snap, _ := res.(types.ManagedObjectReference)
	for i, td := range disks {
		deltas[i].snap = snap.Value
		for _, dev := range vm.Config.Hardware.Device {
			disk, ok := dev.(*types.VirtualDisk)
			if !ok || disk.Key != td.key {
				continue
			}
			if b, ok := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo); ok {
				parent := *b
				child := *b
				child.FileName = deltas[i].dsPath
				child.Parent = &parent
				child.DeltaDiskFormat = string(types.VirtualDiskDeltaDiskFormatRedoLogFormat)
				child.DeltaGrainSize = deltaGrain / 1024
				disk.Backing = &child
			}
		}
	}
	ctx.Update(vm, []types.PropertyChange{{Name: "config.hardware.device", Val: vm.Config.Hardware.Device}})
	return snap, nil
}

// RemoveSnapshotTask merges the snapshot's deltas (and with
// removeChildren its descendants') into their parents before the
// simulator forgets it.
func (w *cbtSnapshot) RemoveSnapshotTask(ctx *simulator.Context, req *types.RemoveSnapshot_Task) soap.HasFault {
	task := simulator.CreateTask(w.snap.Vm, "removeSnapshot", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
		vm, ok := ctx.Map.Get(w.snap.Vm).(*simulator.VirtualMachine)
		if !ok {
			return nil, &types.ManagedObjectNotFound{Obj: w.snap.Vm}
		}
		var refs []types.ManagedObjectReference
		if req.RemoveChildren {
			refs = descendants(ctx, w.snap.Self)
		}
		refs = append(refs, w.snap.Self)
		for _, r := range refs {
			if f := w.d.removeSnapshot(ctx, vm, r); f != nil {
				return nil, f
			}
		}
		res := w.snap.RemoveSnapshotTask(ctx, req).(*methods.RemoveSnapshot_TaskBody)
		if res.Fault_ != nil {
			return nil, res.Fault_.Detail.Fault.(types.BaseMethodFault)
		}
		return waitSimTask(ctx, res.Res.Returnval)
	})
	return &methods.RemoveSnapshot_TaskBody{Res: &types.RemoveSnapshot_TaskResponse{Returnval: task.Run(ctx)}}
}

// descendants lists the snapshots below ref, deepest first.
func descendants(ctx *simulator.Context, ref types.ManagedObjectReference) []types.ManagedObjectReference {
	s, ok := ctx.Map.Get(ref).(*simulator.VirtualMachineSnapshot)
	if !ok {
		return nil
	}
	var out []types.ManagedObjectReference
	for _, c := range s.ChildSnapshot {
		out = append(out, descendants(ctx, c)...)
		out = append(out, c)
	}
	return out
}

// RemoveAllSnapshotsTask merges every delta, newest first.
func (w *cbtVM) RemoveAllSnapshotsTask(ctx *simulator.Context, req *types.RemoveAllSnapshots_Task) soap.HasFault {
	task := simulator.CreateTask(w.vm, "removeAllSnapshots", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
		var refs []types.ManagedObjectReference
		if w.vm.Snapshot != nil {
			for _, root := range w.vm.Snapshot.RootSnapshotList {
				refs = append(refs, descendants(ctx, root.Snapshot)...)
				refs = append(refs, root.Snapshot)
			}
		}
		for _, r := range refs {
			if f := w.d.removeSnapshot(ctx, w.vm, r); f != nil {
				return nil, f
			}
		}
		res := w.vm.RemoveAllSnapshotsTask(ctx, req).(*methods.RemoveAllSnapshots_TaskBody)
		if res.Fault_ != nil {
			return nil, res.Fault_.Detail.Fault.(types.BaseMethodFault)
		}
		return waitSimTask(ctx, res.Res.Returnval)
	})
	return &methods.RemoveAllSnapshots_TaskBody{Res: &types.RemoveAllSnapshots_TaskResponse{Returnval: task.Run(ctx)}}
}

// removeSnapshot merges the delta each disk got at snapshot ref into its
// parent and takes it out of the VM's and the other snapshots' backings.
func (d *cbtDouble) removeSnapshot(ctx *simulator.Context, vm *simulator.VirtualMachine, ref types.ManagedObjectReference) types.BaseMethodFault {
	on := isTrue(vm.Config.ChangeTrackingEnabled)
	for _, td := range d.vmDisks(vm) {
		td.mu.Lock()
		i := -1
		for j, c := range td.chain {
			if c.snap == ref.Value {
				i = j
			}
		}
		if i < 0 {
			td.mu.Unlock()
			continue
		}
		gone := td.chain[i].dsPath
		td.stun(on)
		err := td.consolidate(i)
		id := td.changeID()
		td.mu.Unlock()
		if err != nil {
			return fileFault(gone, "cannot consolidate the delta disk: %v", err)
		}
		unlinkBacking(vm.Config.Hardware.Device, td.key, gone)
		setChangeID(vm.Config.Hardware.Device, td.key, id)
		d.forEachSnapshot(ctx, vm, func(s *simulator.VirtualMachineSnapshot) {
			unlinkBacking(s.Config.Hardware.Device, td.key, gone)
		})
	}
	ctx.Update(vm, []types.PropertyChange{{Name: "config.hardware.device", Val: vm.Config.Hardware.Device}})
	return nil
}

// unlinkBacking takes the file dsPath out of the backing chain of disk
// key: a disk whose top backing it is now has its parent as top (keeping
// its changeId).
func unlinkBacking(devices []types.BaseVirtualDevice, key int32, dsPath string) {
	for _, dev := range devices {
		disk, ok := dev.(*types.VirtualDisk)
		if !ok || disk.Key != key {
			continue
		}
		b, ok := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo)
		if !ok {
			continue
		}
		if b.FileName == dsPath && b.Parent != nil {
			p := *b.Parent
			p.ChangeId = b.ChangeId
			disk.Backing = &p
			continue
		}
		for cur := b; cur.Parent != nil; cur = cur.Parent {
			if cur.Parent.FileName == dsPath {
				cur.Parent = cur.Parent.Parent
				break
			}
		}
	}
}

// forEachSnapshot calls f with every snapshot of vm, locked.
func (d *cbtDouble) forEachSnapshot(ctx *simulator.Context, vm *simulator.VirtualMachine, f func(*simulator.VirtualMachineSnapshot)) {
	if vm.Snapshot == nil {
		return
	}
	var walk func([]types.VirtualMachineSnapshotTree)
	walk = func(list []types.VirtualMachineSnapshotTree) {
		for _, n := range list {
			if s, ok := ctx.Map.Get(n.Snapshot).(*simulator.VirtualMachineSnapshot); ok {
				ctx.WithLock(s, func() { f(s) })
			}
			walk(n.ChildSnapshotList)
		}
	}
	walk(vm.Snapshot.RootSnapshotList)
}

// ReconfigVMTask is ReconfigVM_Task that also turns change tracking off
// (disabling CBT forgets every changeId) and resets it on a disk that
// grows; a disk with snapshots cannot grow, as in vSphere.
func (w *cbtVM) ReconfigVMTask(ctx *simulator.Context, req *types.ReconfigVM_Task) soap.HasFault {
	task := simulator.CreateTask(w.vm, "reconfigVm", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
		vm := w.vm
		grow := map[int32]int64{}
		for i, ch := range req.Spec.DeviceChange {
			spec := ch.GetVirtualDeviceConfigSpec()
			disk, ok := spec.Device.(*types.VirtualDisk)
			if !ok || spec.Operation != types.VirtualDeviceConfigSpecOperationEdit {
				continue
			}
			td := w.d.disk(vm, disk.Key)
			if td == nil {
				continue
			}
			size := disk.CapacityInBytes
			if size == 0 {
				size = disk.CapacityInKB * 1024
			}
			td.mu.Lock()
			cur, snaps := td.capacity, len(td.chain) > 1
			td.mu.Unlock()
			if size <= cur {
				continue
			}
			if snaps {
				return nil, &types.InvalidDeviceOperation{InvalidDeviceSpec: types.InvalidDeviceSpec{DeviceIndex: int32(i)},
					BadOp: types.VirtualDeviceConfigSpecOperationEdit}
			}
			grow[disk.Key] = size
		}
		for key, size := range grow {
			td := w.d.disk(vm, key)
			td.mu.Lock()
			err := td.grow(size)
			td.mu.Unlock()
			if err != nil {
				return nil, fileFault(td.chain[0].dsPath, "cannot extend the disk: %v", err)
			}
		}
		res := vm.ReconfigVMTask(ctx, req).(*methods.ReconfigVM_TaskBody)
		if res.Fault_ != nil {
			return nil, res.Fault_.Detail.Fault.(types.BaseMethodFault)
		}
		if _, f := waitSimTask(ctx, res.Res.Returnval); f != nil {
			return nil, f
		}
		on := isTrue(vm.Config.ChangeTrackingEnabled)
		for _, td := range w.d.vmDisks(vm) {
			td.mu.Lock()
			switch {
			case !on:
				td.reset(false)
			case grow[td.key] > 0 && td.uuid != "":
				td.reset(true)
			}
			id := td.changeID()
			td.mu.Unlock()
			setChangeID(vm.Config.Hardware.Device, td.key, id)
		}
		ctx.Update(vm, []types.PropertyChange{{Name: "config.hardware.device", Val: vm.Config.Hardware.Device}})
		return nil, nil
	})
	return &methods.ReconfigVM_TaskBody{Res: &types.ReconfigVM_TaskResponse{Returnval: task.Run(ctx)}}
}

// QueryChangedDiskAreas answers with the areas of disk deviceKey that
// changed between changeId and snapshot (or, for "*", the areas the disk
// holds at snapshot), from startOffset on, at most a page of areas.
func (w *cbtVM) QueryChangedDiskAreas(ctx *simulator.Context, req *types.QueryChangedDiskAreas) soap.HasFault {
	body := &methods.QueryChangedDiskAreasBody{}
	var info types.DiskChangeInfo
	var f types.BaseMethodFault
	ctx.WithLock(w.vm, func() { info, f = w.d.queryChangedDiskAreas(ctx, w.vm, req) })
	if f != nil {
		body.Fault_ = simulator.Fault(faultText(f), f)
		return body
	}
	body.Res = &types.QueryChangedDiskAreasResponse{Returnval: info}
	return body
}

func faultText(f types.BaseMethodFault) string {
	if m := f.GetMethodFault().FaultMessage; len(m) > 0 {
		return m[0].Message
	}
	if ia, ok := f.(*types.InvalidArgument); ok {
		return "A specified parameter was not correct: " + ia.InvalidProperty
	}
	return fmt.Sprintf("%T", f)
}

func invalidArgument(prop string) types.BaseMethodFault {
	return &types.InvalidArgument{InvalidProperty: prop}
}

func (d *cbtDouble) queryChangedDiskAreas(ctx *simulator.Context, vm *simulator.VirtualMachine, req *types.QueryChangedDiskAreas) (types.DiskChangeInfo, types.BaseMethodFault) {
	var file string
	for _, dev := range vm.Config.Hardware.Device {
		if disk, ok := dev.(*types.VirtualDisk); ok && disk.Key == req.DeviceKey {
			if b, ok := disk.Backing.(types.BaseVirtualDeviceFileBackingInfo); ok {
				file = b.GetVirtualDeviceFileBackingInfo().FileName
			}
		}
	}
	if file == "" {
		return types.DiskChangeInfo{}, invalidArgument("deviceKey")
	}
	td := d.disk(vm, req.DeviceKey)
	if td == nil {
		return types.DiskChangeInfo{}, fileFault(file, "Error caused by file %s: change tracking is not supported on this disk", file)
	}
	td.mu.Lock()
	defer td.mu.Unlock()
	if !isTrue(vm.Config.ChangeTrackingEnabled) || td.uuid == "" {
		return types.DiskChangeInfo{}, fileFault(file, "Error caused by file %s: change tracking is not active on this disk", file)
	}
	n, toUUID, toSeq := len(td.chain), td.uuid, td.seq
	if req.Snapshot == nil {
		if vm.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOff {
			return types.DiskChangeInfo{}, invalidArgument("snapshot")
		}
	} else {
		n = -1
		for i, c := range td.chain {
			if c.snap == req.Snapshot.Value {
				n, toUUID, toSeq = i, c.snapUUID, c.snapSeq
			}
		}
		if n < 0 {
			if s, ok := ctx.Map.Get(*req.Snapshot).(*simulator.VirtualMachineSnapshot); ok && s.Vm == vm.Self {
				return types.DiskChangeInfo{}, fileFault(file, "Error caused by file %s: the snapshot has no change tracking data", file)
			}
			return types.DiskChangeInfo{}, invalidArgument("snapshot")
		}
	}
	if req.StartOffset < 0 || req.StartOffset >= td.capacity {
		return types.DiskChangeInfo{}, invalidArgument("startOffset")
	}
	if req.ChangeId == "*" {
		blocks, err := td.allocated(n)
		if err != nil {
			return types.DiskChangeInfo{}, fileFault(file, "Error caused by file %s: %v", file, err)
		}
		return extents(blocks, req.StartOffset, td.capacity, d.page), nil
	}
	uuid, seq, ok := parseChangeID(req.ChangeId)
	if !ok {
		return types.DiskChangeInfo{}, invalidArgument("changeId")
	}
	if uuid != td.uuid || toUUID != td.uuid || seq < 1 || seq > toSeq {
		return types.DiskChangeInfo{}, fileFault(file, "Error caused by file %s: changeId %s is not valid for this disk (tracking was reset, or it is newer than the snapshot)", file, req.ChangeId)
	}
	return extents(td.changed(seq, toSeq), req.StartOffset, td.capacity, d.page), nil
}

var errGrowSparse = errors.New("only a flat disk can grow")
