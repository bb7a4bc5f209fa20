package vcsim

import (
	"context"
	"fmt"
	"sync"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/types"
)

// The features a simulated VM can have (VM.Features), and which VMs get
// them: VM i has a feature when i modulo the number is the remainder.
var vmFeatures = []struct {
	name     string
	mod, rem int
}{
	{"poweredOn", 3, 0},              // the rest are powered off
	{"suspended", 50, 7},             // suspended instead of off
	{"efi", 2, 1},                    // UEFI firmware
	{"secureBoot", 4, 1},             // UEFI secure boot (efi VMs only)
	{"vtpm", 8, 1},                   // a virtual TPM (efi VMs only)
	{"multiNIC", 3, 1},               // a second NIC (e1000e) on the distributed port group
	{"thirdNIC", 9, 4},               // a third NIC (e1000), not connected at power on
	{"independentDisk", 5, 0},        // a second, independent_persistent eager-zeroed disk on SATA in datastore2
	{"nvme", 10, 3},                  // a disk on an NVMe controller
	{"snapshots", 7, 0},              // two nested snapshots
	{"usb", 11, 0},                   // an xHCI controller and a USB device
	{"rdm", 13, 0},                   // a physical-mode raw device mapping on a physicalSharing SCSI bus
	{"sharedDisk", 17, 0},            // a multi-writer disk shared by every such VM
	{"cbt", 19, 0},                   // changed block tracking, CPU and memory hot-add
	{"pciPassthrough", 23, 0},        // a PCI passthrough GPU
	{"sriov", 29, 0},                 // an SR-IOV NIC
	{"cpuAffinity", 31, 0},           // pinned to physical CPUs 0 and 1 and NUMA node 0
	{"hostRule", 12, 2},              // in a mandatory VM-host DRS rule binding it to DC0_C0_H0
	{"consolidation", 37, 0},         // needs disk consolidation
	{"faultTolerance", 41, 0},        // fault tolerance running
	{"standaloneHost", 6, 5},         // on the standalone host DC0_H0 instead of the cluster
	{"independentNonPersist", 43, 0}, // first disk independent_nonpersistent
}

// features lists the features of VM i.
func features(i int) []string {
	var out []string
	has := map[string]bool{}
	for _, f := range vmFeatures {
		if i%f.mod == f.rem {
			has[f.name] = true
		}
	}
	if !has["efi"] {
		delete(has, "secureBoot")
		delete(has, "vtpm")
	}
	if has["poweredOn"] {
		delete(has, "suspended")
	}
	for _, f := range vmFeatures {
		if has[f.name] {
			out = append(out, f.name)
		}
	}
	return out
}

var (
	scsiTypes = []string{"pvscsi", "lsilogic", "lsilogic-sas", "buslogic"}
	nicTypes  = []string{"vmxnet3", "e1000", "e1000e", "vmxnet2", "pcnet32"}
	guestIDs  = []string{"debian12_64Guest", "rhel9_64Guest", "windows2019srv_64Guest", "ubuntu64Guest", "otherLinux64Guest"}
	cpuShapes = [][2]int32{{1, 1}, {2, 2}, {4, 2}, {8, 4}}
)

// createVMs creates o.VMs VMs, o.Parallel at a time, then sets the state
// the API cannot (guest info, FT, consolidation) directly in the model.
func (v *Simulator) createVMs(ctx context.Context, c *govmomi.Client, inv *simInventory, o Options) error {
	disks, err := newDiskMaker(v, o.GuestVMDK)
	if err != nil {
		return err
	}
	v.VMs = make([]VM, o.VMs)
	idx := make(chan int)
	errs := make(chan error, o.Parallel)
	var wg sync.WaitGroup
	for w := 0; w < o.Parallel; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range idx {
				sv, err := v.createVM(ctx, c, inv, disks, i)
				if err != nil {
					errs <- err
					return
				}
				v.VMs[i] = sv
			}
		}()
	}
	var first error
feed:
	for i := 0; i < o.VMs; i++ {
		select {
		case idx <- i:
		case first = <-errs:
			break feed
		case <-ctx.Done():
			first = ctx.Err()
			break feed
		}
		if (i+1)%1000 == 0 {
			o.Log("created %d of %d VMs", i+1, o.VMs)
		}
	}
	close(idx)
	wg.Wait()
	close(errs)
	if first == nil {
		first = <-errs
	}
	if first != nil {
		return first
	}
	v.setRuntimeState()
	return v.clusterRules(ctx, inv)
}

// createVM creates VM i with its disks, powers it on or suspends it and
// takes its snapshots.
func (v *Simulator) createVM(ctx context.Context, c *govmomi.Client, inv *simInventory, disks *diskMaker, i int) (VM, error) {
	name, folder := vmName(i)
	feats := features(i)
	sv := VM{Name: name, Folder: folder, InventoryPath: v.inventoryPath(folder, name), Features: feats, PowerState: "poweredOff"}
	spec, diskPaths, err := v.vmSpec(inv, disks, i, name, sv)
	if err != nil {
		return sv, err
	}
	sv.Disks = diskPaths
	pool, host := inv.clusterRP, (*object.HostSystem)(nil)
	if sv.Has("standaloneHost") {
		pool, host = inv.hostRP, inv.host
	}
	task, err := inv.folders[folder].CreateVM(ctx, spec, pool, host)
	if err != nil {
		return sv, fmt.Errorf("vsphere simulator: create %s: %w", name, err)
	}
	res, err := task.WaitForResult(ctx, nil)
	if err != nil {
		return sv, fmt.Errorf("vsphere simulator: create %s: %w", name, err)
	}
	ref := res.Result.(types.ManagedObjectReference)
	sv.MoRef = ref.Value
	vm := object.NewVirtualMachine(c.Client, ref)
	if sv.Has("snapshots") {
		for _, s := range []string{"before-upgrade", "after-upgrade"} {
			t, err := vm.CreateSnapshot(ctx, s, "taken by podvm-testenv", false, s == "after-upgrade")
			if err == nil {
				err = t.Wait(ctx)
			}
			if err != nil {
				return sv, fmt.Errorf("vsphere simulator: snapshot %s of %s: %w", s, name, err)
			}
		}
	}
	if sv.Has("poweredOn") || sv.Has("suspended") {
		if err := waitTask(ctx, vm.PowerOn); err != nil {
			return sv, fmt.Errorf("vsphere simulator: power on %s: %w", name, err)
		}
		sv.PowerState = "poweredOn"
	}
	if sv.Has("suspended") {
		if err := waitTask(ctx, vm.Suspend); err != nil {
			return sv, fmt.Errorf("vsphere simulator: suspend %s: %w", name, err)
		}
		sv.PowerState = "suspended"
	}
	return sv, nil
}

func waitTask(ctx context.Context, f func(context.Context) (*object.Task, error)) error {
	t, err := f(ctx)
	if err != nil {
		return err
	}
	return t.Wait(ctx)
}
