package vsphere

import (
	"context"
	"fmt"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/vim25/types"
)

// vmRef is the reference of the VirtualMachine moref (e.g. "vm-42").
func vmRef(moref string) types.ManagedObjectReference {
	return types.ManagedObjectReference{Type: "VirtualMachine", Value: moref}
}

// FindVM returns the moref of the VM with this name or inventory path in
// datacenter dc ("" for the only one).
func (c *Conn) FindVM(ctx context.Context, dc, name string) (string, error) {
	f := find.NewFinder(c.Client, true)
	d, err := f.DatacenterOrDefault(ctx, dc)
	if err != nil {
		return "", fmt.Errorf("datacenter: %w (give --datacenter)", err)
	}
	f.SetDatacenter(d)
	vm, err := f.VirtualMachine(ctx, name)
	if err != nil {
		return "", fmt.Errorf("VM %s: %w", name, err)
	}
	return vm.Reference().Value, nil
}
