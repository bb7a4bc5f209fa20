package migrate

import (
	"context"
	"fmt"
	"path"
	"time"

	"github.com/podvm-migrate/podvm-migrate/convert"
	"github.com/podvm-migrate/podvm-migrate/convert/block"
	"github.com/podvm-migrate/podvm-migrate/convert/remote"
	"github.com/podvm-migrate/podvm-migrate/disksource"
	"github.com/podvm-migrate/podvm-migrate/plan"
	"github.com/podvm-migrate/podvm-migrate/podvm"
	"github.com/podvm-migrate/podvm-migrate/vsphere"
)

// The adapters below put the vsphere package's disk and power operations
// behind the pipeline's Opener and Quiesce: they only map a planned VM and
// its disk to vSphere's names.

// VSphereDatastore opens "[datastore] folder/disk.vmdk" sources straight
// from vSphere's datastore HTTP access (/folder/…) in the session of conn
// (vsphere.Conn.Open): read with range requests, resumed and retried after
// a dropped connection, streamed into the converter without a local copy.
// A VMDK's extents and snapshot parents are read from beside it. Other
// sources go to next.
func VSphereDatastore(conn *vsphere.Conn, next Opener) Opener {
	return func(ctx context.Context, vm *plan.PlannedVM, d podvm.Disk) (block.Image, func(), error) {
		src, err := disksource.Parse(d.Source)
		if err != nil || src.Kind != disksource.KindDatastore {
			return next(ctx, vm, d)
		}
		img, done, err := conn.Open(ctx, src, convert.SourceOptions{Datacenter: vm.Spec.Source.Datacenter})
		if err != nil {
			return nil, nil, fmt.Errorf("disk %s of %s (%s): %w", d.Name, vm.Name, d.Source, err)
		}
		return img, done, nil
	}
}

// VSphereExport opens "[datastore] folder/disk.vmdk" sources the way
// vSphere clients read a powered-off VM: through an ExportVm NFC lease
// (vsphere.Conn.OpenExport), the disk picked by its file name, streamed
// into the converter; the lease is completed when the image is closed.
// Other sources go to next.
func VSphereExport(conn *vsphere.Conn, next Opener) Opener {
	return func(ctx context.Context, vm *plan.PlannedVM, d podvm.Disk) (block.Image, func(), error) {
		src, err := disksource.Parse(d.Source)
		if err != nil || src.Kind != disksource.KindDatastore || vm.Spec.Source.Moref == "" {
			return next(ctx, vm, d)
		}
		img, done, err := conn.OpenExport(ctx, vm.Spec.Source.Moref, vsphere.ExportedDisk(path.Base(src.Path)), remote.Options{})
		if err != nil {
			return nil, nil, fmt.Errorf("%s (%s): %w: see --source-power-off", vm.Name, d.Source, err)
		}
		return img, done, nil
	}
}

// PowerOffSource returns a Quiesce step that shuts each source VM down in
// vSphere before its disks are read, so the copy is consistent: a guest
// shutdown through VMware Tools first, a hard power-off after grace
// (vsphere.Conn.PowerOff).
func PowerOffSource(conn *vsphere.Conn, grace time.Duration) func(ctx context.Context, vm *plan.PlannedVM) (string, error) {
	return func(ctx context.Context, pvm *plan.PlannedVM) (string, error) {
		if pvm.Spec.Source.Moref == "" {
			return "no vSphere VM", nil
		}
		did, err := conn.PowerOff(ctx, pvm.Spec.Source.Moref, grace)
		if err != nil {
			return "", fmt.Errorf("source VM %s: %w", pvm.Name, err)
		}
		return did, nil
	}
}
