package vsphere

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/vmware/govmomi/nfc"
	"github.com/vmware/govmomi/object"

	"github.com/podvm-migrate/podvm-migrate/convert"
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

// leaseKeepAlive is how often a lease in use reports progress: vSphere
// drops a lease that reports none for its timeout.
const leaseKeepAlive = 30 * time.Second

// OpenExport reads one disk of the powered-off VM moref (e.g. "vm-42") the
// way vSphere clients do: an ExportVm NFC lease, whose URL for the disk
// serves it as a streamOptimized VMDK front to back, read in the session
// with the retries of ro. The lease is kept alive while the disk is read;
// the returned function completes it (call it after closing the image).
func (c *Conn) OpenExport(ctx context.Context, moref string, disk ExportedDisk, ro remote.Options) (block.Image, func(), error) {
	lease, err := object.NewVirtualMachine(c.Client, vmRef(moref)).Export(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("export %s: %w (vSphere exports powered-off VMs only)", moref, err)
	}
	info, err := lease.Wait(ctx, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("export lease of %s: %w", moref, err)
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
		return nil, nil, fmt.Errorf("export lease of %s has no disk %q (give a device key, a file name or diskN)", moref, disk)
	}
	ro.Client = c.HTTPClient()
	img, err := convert.OpenURL(ctx, u, convert.FormatVMDK, ro)
	if err != nil {
		_ = lease.Abort(context.WithoutCancel(ctx), nil)
		return nil, nil, fmt.Errorf("disk %s of %s over NFC: %w", disk, moref, err)
	}
	keep, stop := context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		t := time.NewTicker(leaseKeepAlive)
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
