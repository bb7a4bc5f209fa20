package convert

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/nfc"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/podvm-migrate/podvm-migrate/convert/block"
	"github.com/podvm-migrate/podvm-migrate/convert/remote"
)

// ExportedDisk picks one disk of an export lease: by the device key vSphere
// gives it (e.g. "2000"), by its file name (e.g. "web01.vmdk"), or by its
// position among the VM's disks ("disk0", "disk1", …).
type ExportedDisk string

func (want ExportedDisk) match(i int, item nfc.FileItem) bool {
	w := string(want)
	return w == fmt.Sprintf("disk%d", i) || w == item.Path || strings.HasSuffix(item.DeviceId, "/"+w) || strings.HasSuffix(item.DeviceId, ":"+w)
}

// OpenExport reads one disk of a powered-off VM the way vSphere clients do:
// an ExportVm NFC lease, whose URL for the disk serves it as a
// streamOptimized VMDK front to back. The lease is kept alive while the
// disk is read; the returned function completes it (call it after closing
// the image).
func OpenExport(ctx context.Context, c *vim25.Client, vm types.ManagedObjectReference, disk ExportedDisk, ro remote.Options) (block.Image, func(), error) {
	lease, err := object.NewVirtualMachine(c, vm).Export(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("export %s: %w (vSphere exports powered-off VMs only)", vm.Value, err)
	}
	info, err := lease.Wait(ctx, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("export lease of %s: %w", vm.Value, err)
	}
	var u *url.URL
	disks := 0
	for _, item := range info.Items {
		if strings.HasSuffix(strings.ToLower(item.Path), ".iso") || strings.HasSuffix(strings.ToLower(item.Path), ".nvram") {
			continue
		}
		if disk.match(disks, item) {
			u = item.URL
			break
		}
		disks++
	}
	if u == nil {
		_ = lease.Abort(context.WithoutCancel(ctx), nil)
		return nil, nil, fmt.Errorf("export lease of %s has no disk %q (give a device key, a file name or diskN)", vm.Value, disk)
	}
	img, err := OpenURL(ctx, u, FormatVMDK, ro)
	if err != nil {
		_ = lease.Abort(context.WithoutCancel(ctx), nil)
		return nil, nil, fmt.Errorf("disk %s of %s over NFC: %w", disk, vm.Value, err)
	}
	// vSphere drops a lease that reports no progress for its timeout.
	keep, stop := context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		t := time.NewTicker(30 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-keep.Done():
				return
			case <-t.C:
				_ = lease.Progress(keep, 50)
			}
		}
	}()
	return img, func() {
		stop()
		_ = lease.Complete(context.WithoutCancel(ctx))
	}, nil
}

// parseVMSource splits "vm:NAME/DISK" into the VM's name (or inventory
// path) and the disk.
func parseVMSource(src string) (string, ExportedDisk, error) {
	rest := strings.TrimPrefix(src, "vm:")
	i := strings.LastIndex(rest, "/")
	if i <= 0 || i == len(rest)-1 {
		return "", "", fmt.Errorf("%s: want vm:NAME/DISK, DISK a device key (2000), a file name or diskN", src)
	}
	return rest[:i], ExportedDisk(rest[i+1:]), nil
}

// findVM finds a VM by name or inventory path in datacenter dc (empty: the
// only one).
func findVM(ctx context.Context, c *vim25.Client, dc, name string) (types.ManagedObjectReference, error) {
	f := find.NewFinder(c, true)
	d, err := f.DatacenterOrDefault(ctx, dc)
	if err != nil {
		return types.ManagedObjectReference{}, fmt.Errorf("datacenter: %w (give --datacenter)", err)
	}
	f.SetDatacenter(d)
	vm, err := f.VirtualMachine(ctx, name)
	if err != nil {
		return types.ManagedObjectReference{}, fmt.Errorf("VM %s: %w", name, err)
	}
	return vm.Reference(), nil
}
