package vcsim

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// DefaultChangedAreasPage is how many changed areas one
// QueryChangedDiskAreas answer holds at most unless Options say otherwise.
const DefaultChangedAreasPage = 64

// cbtDouble adds to govmomi's simulator what v0.56 lacks for warm
// migration: delta disks on snapshots, changed block tracking and
// QueryChangedDiskAreas (see the package documentation for the contract).
// Its methods replace the simulator's for a few calls through
// Registry.Handler, and it watches power state changes as a Registry
// handler.
type cbtDouble struct {
	v       *Simulator
	page    int
	enabled atomic.Bool // on once Start has built the inventory

	mu    sync.Mutex
	disks map[string][]*trackedDisk // VM moref -> its disks that snapshots and CBT apply to
	power map[string]bool           // VM moref -> powered on
	log   func(string, ...any)
}

func newCBTDouble(v *Simulator, page int, log func(string, ...any)) *cbtDouble {
	if page <= 0 {
		page = DefaultChangedAreasPage
	}
	return &cbtDouble{v: v, page: page, disks: map[string][]*trackedDisk{}, power: map[string]bool{}, log: log}
}

// install hooks the double into the simulator's registry.
func (d *cbtDouble) install(m *simulator.Model) {
	m.Map().Handler = d.handler
	m.Map().AddHandler(d)
}

// handler hands the simulator our object for the calls we implement.
func (d *cbtDouble) handler(ctx *simulator.Context, m *simulator.Method) (mo.Reference, types.BaseMethodFault) {
	if !d.enabled.Load() {
		return nil, nil
	}
	switch m.This.Type {
	case "VirtualMachine":
		switch m.Name {
		case "CreateSnapshot_Task", "CreateSnapshotEx_Task", "RemoveAllSnapshots_Task", "ReconfigVM_Task", "QueryChangedDiskAreas":
			if vm, ok := ctx.Map.Get(m.This).(*simulator.VirtualMachine); ok {
				m.This = callObject(ctx, callRef(m.This), func(ref types.ManagedObjectReference) mo.Reference {
					return &cbtVM{Self: ref, vm: vm, d: d}
				})
			}
		}
	case "VirtualMachineSnapshot":
		if m.Name == "RemoveSnapshot_Task" {
			if s, ok := ctx.Map.Get(m.This).(*simulator.VirtualMachineSnapshot); ok {
				m.This = callObject(ctx, callRef(m.This), func(ref types.ManagedObjectReference) mo.Reference {
					return &cbtSnapshot{Self: ref, snap: s, d: d}
				})
			}
		}
	}
	return nil, nil
}

// The simulator calls a method on the object the caller's session finds
// for the call's moref, whatever Registry.Handler returns; so the handler
// points the call at an object of ours, registered under a moref of its
// own type (callRef), once per VM or snapshot.
const callPrefix = "PodvmCBT"

func callRef(ref types.ManagedObjectReference) types.ManagedObjectReference {
	return types.ManagedObjectReference{Type: callPrefix + ref.Type, Value: ref.Value}
}

func callObject(ctx *simulator.Context, ref types.ManagedObjectReference, make func(types.ManagedObjectReference) mo.Reference) types.ManagedObjectReference {
	if ctx.Map.Get(ref) == nil {
		ctx.Map.Put(make(ref))
	}
	return ref
}

// Reference names the double as a registry handler.
func (d *cbtDouble) Reference() types.ManagedObjectReference {
	return types.ManagedObjectReference{Type: "PodvmCBTDouble", Value: "cbt"}
}

// PutObject is part of simulator.RegisterObject.
func (d *cbtDouble) PutObject(*simulator.Context, mo.Reference) {}

// RemoveObject forgets a destroyed VM.
func (d *cbtDouble) RemoveObject(ctx *simulator.Context, ref types.ManagedObjectReference) {
	switch ref.Type {
	case "VirtualMachine", "VirtualMachineSnapshot":
		if ctx != nil && ctx.Map != nil && ctx.Map.Get(callRef(ref)) != nil {
			ctx.Map.Remove(ctx, callRef(ref))
		}
	}
	if ref.Type != "VirtualMachine" {
		return
	}
	d.mu.Lock()
	disks := d.disks[ref.Value]
	delete(d.disks, ref.Value)
	delete(d.power, ref.Value)
	d.mu.Unlock()
	for _, td := range disks {
		td.mu.Lock()
		_ = td.closeFiles()
		td.mu.Unlock()
	}
}

// UpdateObject sees every power state change: a power cycle stuns the VM.
func (d *cbtDouble) UpdateObject(ctx *simulator.Context, obj mo.Reference, changes []types.PropertyChange) {
	if obj.Reference().Type != "VirtualMachine" || !d.enabled.Load() {
		return
	}
	// obj is the simulator object's embedded mo.VirtualMachine.
	vm, ok := ctx.Map.Get(obj.Reference()).(*simulator.VirtualMachine)
	if !ok {
		return
	}
	for _, c := range changes {
		if c.Name != "runtime.powerState" {
			continue
		}
		on := c.Val == types.VirtualMachinePowerStatePoweredOn
		d.mu.Lock()
		was := d.power[vm.Self.Value]
		d.power[vm.Self.Value] = on
		d.mu.Unlock()
		if was != on {
			d.stunVM(vm)
			ctx.Update(vm, []types.PropertyChange{{Name: "config.hardware.device", Val: vm.Config.Hardware.Device}})
		}
	}
}

// enable builds the disk state of every VM and turns the double on; with
// cbt, tracking is active on every disk of every VM that has it enabled,
// as after a power cycle.
func (d *cbtDouble) enable(cbt bool) {
	for _, obj := range d.v.model.Map().All("VirtualMachine") {
		vm, ok := obj.(*simulator.VirtualMachine)
		if !ok {
			continue
		}
		d.v.model.Map().WithLock(&simulator.Context{}, vm, func() {
			d.mu.Lock()
			d.power[vm.Self.Value] = vm.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn
			d.mu.Unlock()
			d.vmDisks(vm)
			if cbt && isTrue(vm.Config.ChangeTrackingEnabled) {
				d.stunVM(vm)
			}
		})
	}
	d.enabled.Store(true)
}

// vmDisks returns the tracked disks of vm, finding them on first use: the
// persistent, unshared disks with a file backing. The VM must be locked.
func (d *cbtDouble) vmDisks(vm *simulator.VirtualMachine) []*trackedDisk {
	d.mu.Lock()
	defer d.mu.Unlock()
	if disks, ok := d.disks[vm.Self.Value]; ok {
		return disks
	}
	var disks []*trackedDisk
	for _, dev := range vm.Config.Hardware.Device {
		disk, ok := dev.(*types.VirtualDisk)
		if !ok {
			continue
		}
		b, ok := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo)
		if !ok || b.Parent != nil || b.Sharing == string(types.VirtualDiskSharingSharingMultiWriter) ||
			(b.DiskMode != "" && b.DiskMode != string(types.VirtualDiskModePersistent)) {
			continue
		}
		local, err := d.v.LocalPath(b.FileName)
		if err != nil {
			continue
		}
		capacity := disk.CapacityInBytes
		if capacity == 0 {
			capacity = disk.CapacityInKB * 1024
		}
		disks = append(disks, &trackedDisk{key: disk.Key, capacity: capacity, chain: []*chainFile{{dsPath: b.FileName, local: local}}})
	}
	d.disks[vm.Self.Value] = disks
	return disks
}

func (d *cbtDouble) disk(vm *simulator.VirtualMachine, key int32) *trackedDisk {
	for _, td := range d.vmDisks(vm) {
		if td.key == key {
			return td
		}
	}
	return nil
}

// stunVM advances (or starts, or stops) change tracking on every disk of
// vm and writes the changeIds into its disk backings. The VM must be locked.
func (d *cbtDouble) stunVM(vm *simulator.VirtualMachine) {
	on := isTrue(vm.Config.ChangeTrackingEnabled)
	for _, td := range d.vmDisks(vm) {
		td.mu.Lock()
		td.stun(on)
		id := td.changeID()
		td.mu.Unlock()
		setChangeID(vm.Config.Hardware.Device, td.key, id)
	}
}

// setChangeID sets the changeId of the disk with key in devices.
func setChangeID(devices []types.BaseVirtualDevice, key int32, id string) {
	for _, dev := range devices {
		if disk, ok := dev.(*types.VirtualDisk); ok && disk.Key == key {
			if b, ok := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo); ok {
				b.ChangeId = id
			}
		}
	}
}

func isTrue(b *bool) bool { return b != nil && *b }

// parseChangeID splits "uuid/seq".
func parseChangeID(s string) (string, int, bool) {
	i := strings.LastIndexByte(s, '/')
	if i <= 0 {
		return "", 0, false
	}
	n, err := strconv.Atoi(s[i+1:])
	if err != nil || n < 0 {
		return "", 0, false
	}
	return s[:i], n, true
}

// poweredOn lists the VMs that are powered on.
func (d *cbtDouble) poweredOn() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for ref, on := range d.power {
		if on {
			out = append(out, ref)
		}
	}
	return out
}

// guestWrite writes p at off of disk key of VM moref, as its running
// guest would.
func (d *cbtDouble) guestWrite(moref string, key int32, off int64, p []byte) error {
	d.mu.Lock()
	on := d.power[moref]
	d.mu.Unlock()
	if !on {
		return fmt.Errorf("vsphere simulator: VM %s is not powered on: only a running guest writes its disks", moref)
	}
	vm, ok := d.v.model.Map().Get(types.ManagedObjectReference{Type: "VirtualMachine", Value: moref}).(*simulator.VirtualMachine)
	if !ok {
		return fmt.Errorf("vsphere simulator: no VM %s", moref)
	}
	var td *trackedDisk
	d.v.model.Map().WithLock(&simulator.Context{}, vm, func() { td = d.disk(vm, key) })
	if td == nil {
		return fmt.Errorf("vsphere simulator: VM %s has no persistent file-backed disk %d", moref, key)
	}
	td.mu.Lock()
	defer td.mu.Unlock()
	if err := td.guestWrite(p, off); err != nil {
		return fmt.Errorf("vsphere simulator: VM %s disk %d: %w", moref, key, err)
	}
	return nil
}

// close closes every open disk file.
func (d *cbtDouble) close() {
	d.enabled.Store(false)
	d.mu.Lock()
	var all []*trackedDisk
	for _, disks := range d.disks {
		all = append(all, disks...)
	}
	d.mu.Unlock()
	for _, td := range all { // a disk's lock is never taken under d.mu
		td.mu.Lock()
		_ = td.closeFiles()
		td.mu.Unlock()
	}
}
