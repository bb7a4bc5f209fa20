package migrate

import (
	"context"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/podvm-migrate/podvm-migrate/convert"
	"github.com/podvm-migrate/podvm-migrate/convert/block"
	"github.com/podvm-migrate/podvm-migrate/convert/remote"
	"github.com/podvm-migrate/podvm-migrate/plan"
	"github.com/podvm-migrate/podvm-migrate/podvm"
	"github.com/podvm-migrate/podvm-migrate/vsphere"
)

// VSphereDatastore opens "[datastore] folder/disk.vmdk" sources straight
// from vSphere's datastore HTTP access (/folder/…) in the session of conn:
// read with range requests, resumed and retried after a dropped connection,
// streamed into the converter without a local copy. A VMDK's extents and
// snapshot parents are read from beside it. Other sources go to next.
func VSphereDatastore(conn *vsphere.Conn, next Opener) Opener {
	ro := remote.Options{Client: remote.SessionClient(conn.Client)}
	return func(ctx context.Context, vm *plan.PlannedVM, d podvm.Disk) (block.Image, func(), error) {
		if !strings.HasPrefix(d.Source, "[") {
			return next(ctx, vm, d)
		}
		u, err := remote.DatastoreURL(ctx, conn.Client, vm.Spec.Source.Datacenter, d.Source)
		if err != nil {
			return nil, nil, fmt.Errorf("disk %s of %s: %w", d.Name, vm.Name, err)
		}
		img, err := convert.OpenURL(ctx, u, "", ro)
		if err != nil {
			return nil, nil, fmt.Errorf("disk %s of %s (%s): %w", d.Name, vm.Name, d.Source, err)
		}
		return img, nil, nil
	}
}

// PowerOffSource returns a Quiesce step that shuts each source VM down in
// vSphere before its disks are read, so the copy is consistent: a guest
// shutdown through VMware Tools first, a hard power-off after grace.
func PowerOffSource(conn *vsphere.Conn, grace time.Duration) func(ctx context.Context, vm *plan.PlannedVM) (string, error) {
	return func(ctx context.Context, pvm *plan.PlannedVM) (string, error) {
		if pvm.Spec.Source.Moref == "" {
			return "no vSphere VM", nil
		}
		vm := object.NewVirtualMachine(conn.Client, types.ManagedObjectReference{Type: "VirtualMachine", Value: pvm.Spec.Source.Moref})
		state, err := vm.PowerState(ctx)
		if err != nil {
			return "", fmt.Errorf("source VM %s (%s): %w", pvm.Name, pvm.Spec.Source.Moref, err)
		}
		did := "powered off"
		switch state {
		case types.VirtualMachinePowerStatePoweredOff:
			return "already powered off", nil
		case types.VirtualMachinePowerStateSuspended:
			did = "powered off (its suspended state discarded, as the plan warned)"
		default:
			if err := vm.ShutdownGuest(ctx); err == nil {
				wctx, cancel := context.WithTimeout(ctx, grace)
				err = vm.WaitForPowerState(wctx, types.VirtualMachinePowerStatePoweredOff)
				cancel()
				if err == nil {
					return "guest shut down", nil
				}
			}
		}
		task, err := vm.PowerOff(ctx)
		if err == nil {
			err = task.Wait(ctx)
		}
		if err != nil {
			// The guest may have finished shutting down meanwhile.
			if st, serr := vm.PowerState(ctx); serr == nil && st == types.VirtualMachinePowerStatePoweredOff {
				return "guest shut down", nil
			}
			return "", fmt.Errorf("power off source VM %s: %w", pvm.Name, err)
		}
		return did, nil
	}
}

// VSphereExport opens "[datastore] folder/disk.vmdk" sources the way
// vSphere clients read a powered-off VM: through an ExportVm NFC lease
// (convert.OpenExport), the disk picked by its file name, streamed into the
// converter; the lease is completed when the image is closed. Other
// sources go to next.
func VSphereExport(conn *vsphere.Conn, next Opener) Opener {
	ro := remote.Options{Client: remote.SessionClient(conn.Client)}
	return func(ctx context.Context, vm *plan.PlannedVM, d podvm.Disk) (block.Image, func(), error) {
		if !strings.HasPrefix(d.Source, "[") || vm.Spec.Source.Moref == "" {
			return next(ctx, vm, d)
		}
		_, file, err := remote.ParseDatastorePath(d.Source)
		if err != nil {
			return nil, nil, err
		}
		ref := types.ManagedObjectReference{Type: "VirtualMachine", Value: vm.Spec.Source.Moref}
		img, done, err := convert.OpenExport(ctx, conn.Client, ref, convert.ExportedDisk(path.Base(file)), ro)
		if err != nil {
			return nil, nil, fmt.Errorf("%s (%s): %w: see --source-power-off", vm.Name, d.Source, err)
		}
		return img, done, nil
	}
}
