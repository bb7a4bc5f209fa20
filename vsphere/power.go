package vsphere

import (
	"context"
	"fmt"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/podvm-migrate/podvm-migrate/discover"
)

// PowerState returns the power state of the VM moref (e.g. "vm-42").
func (c *Conn) PowerState(ctx context.Context, moref string) (discover.PowerState, error) {
	state, err := object.NewVirtualMachine(c.Client, vmRef(moref)).PowerState(ctx)
	if err != nil {
		return "", fmt.Errorf("power state of VM %s: %w", moref, err)
	}
	return discover.PowerState(state), nil
}

// PowerOff shuts the VM moref down so that a copy of its disks is
// consistent: a guest shutdown through VMware Tools first, a hard
// power-off when the guest is not off after grace. It says what it did.
func (c *Conn) PowerOff(ctx context.Context, moref string, grace time.Duration) (string, error) {
	vm := object.NewVirtualMachine(c.Client, vmRef(moref))
	state, err := vm.PowerState(ctx)
	if err != nil {
		return "", fmt.Errorf("power state of VM %s: %w", moref, err)
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
		return "", fmt.Errorf("power off VM %s: %w", moref, err)
	}
	return did, nil
}
