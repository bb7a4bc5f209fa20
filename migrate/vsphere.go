package migrate

import (
	"context"
	"fmt"
	"path"
	"slices"
	"time"

	"github.com/podvm-migrate/podvm-migrate/convert"
	"github.com/podvm-migrate/podvm-migrate/convert/block"
	"github.com/podvm-migrate/podvm-migrate/convert/remote"
	"github.com/podvm-migrate/podvm-migrate/discover"
	"github.com/podvm-migrate/podvm-migrate/disksource"
	"github.com/podvm-migrate/podvm-migrate/plan"
	"github.com/podvm-migrate/podvm-migrate/podvm"
	"github.com/podvm-migrate/podvm-migrate/vsphere"
)

// The adapters below put the vsphere package's disk and power operations
// behind the pipeline's Opener and Quiesce: they only map a planned VM and
// its disk to vSphere's names.

// DatastoreOptions say how VSphereDatastore reads disks.
type DatastoreOptions struct {
	// FullRead reads every block of every disk, even where vSphere's
	// changed block tracking says a disk holds nothing.
	FullRead bool
}

// VSphereDatastore opens "[datastore] folder/disk.vmdk" sources straight
// from vSphere's datastore HTTP access (/folder/…) in the session of conn
// (vsphere.Conn.Open): read with range requests, resumed and retried after
// a dropped connection, streamed into the converter without a local copy.
// A VMDK's extents and snapshot parents are read from beside it. Other
// sources go to next.
//
// A flat extent over HTTP has no map: every byte of it would be read,
// the never written ones too. So, unless o.FullRead, a disk of a
// powered-off VM with changed block tracking on is read only inside the
// areas vCenter says it holds (QueryChangedDiskAreas with changeId "*"),
// and the run record says so (TransferResult.SourceMap), or why not.
func VSphereDatastore(conn *vsphere.Conn, next Opener, o DatastoreOptions) Opener {
	return func(ctx context.Context, vm *plan.PlannedVM, d podvm.Disk) (block.Image, func(), error) {
		src, err := disksource.Parse(d.Source)
		if err != nil || src.Kind != disksource.KindDatastore {
			return next(ctx, vm, d)
		}
		img, done, err := conn.Open(ctx, src, convert.SourceOptions{Datacenter: vm.Spec.Source.Datacenter})
		if err != nil {
			return nil, nil, fmt.Errorf("disk %s of %s (%s): %w", d.Name, vm.Name, d.Source, err)
		}
		if o.FullRead {
			return &mappedSource{Image: img, note: "every block read (--full-read)"}, done, nil
		}
		return allocatedOnly(ctx, conn, vm, d, img), done, nil
	}
}

// mappedSource is a source disk with a note on how its map was found.
type mappedSource struct {
	block.Image
	note string
}

func (m *mappedSource) Sequential() bool { return block.IsSequential(m.Image) }

// SourceMap says how the disk's map was found, for the run record.
func (m *mappedSource) SourceMap() string { return m.note }

// allocatedOnly restricts img, the datastore disk d of vm, to the areas
// changed block tracking says it holds, when that answer can be trusted
// for the file read: the VM is off (its disk cannot change), d is still
// its disk, a single file (no snapshot deltas, whose own maps are read
// anyway), with CBT on. Otherwise img is read whole, and the note says
// why.
func allocatedOnly(ctx context.Context, conn *vsphere.Conn, vm *plan.PlannedVM, d podvm.Disk, img block.Image) block.Image {
	full := func(why string, a ...any) block.Image {
		return &mappedSource{Image: img, note: "every block read: " + fmt.Sprintf(why, a...)}
	}
	moref := vm.Spec.Source.Moref
	if moref == "" {
		return full("the plan does not name the source VM")
	}
	power, disks, err := conn.CurrentDisks(ctx, moref)
	if err != nil {
		return full("%v", err)
	}
	if discover.PowerState(power) != discover.PoweredOff {
		return full("the source VM is %s; changed block tracking lists a disk's areas only while its VM is off", power)
	}
	// The disk is the VM's disk with the plan's key, or else the one that
	// reads the plan's file now.
	i := slices.IndexFunc(disks, func(sd vsphere.SnapshotDisk) bool {
		return d.SourceKey != 0 && sd.Key == d.SourceKey || d.SourceKey == 0 && sd.File == d.Source
	})
	switch {
	case i < 0:
		return full("the source VM has no disk that reads %s now", d.Source)
	case disks[i].File != d.Source:
		return full("the source VM's disk is %s now", disks[i].File)
	case len(disks[i].Chain) != 1:
		return full("the disk has %d snapshot deltas", len(disks[i].Chain)-1)
	case disks[i].ChangeID == "":
		return full("changed block tracking is off for this disk")
	case disks[i].Capacity != img.Size():
		return full("vCenter says the disk holds %d bytes, its file %d", disks[i].Capacity, img.Size())
	}
	areas, err := conn.ChangedAreas(ctx, moref, "", disks[i].Key, "*", disks[i].Capacity)
	if err != nil {
		return full("%v", err)
	}
	ext := make([]block.Extent, len(areas))
	for k, a := range areas {
		ext[k] = block.Extent{Offset: a.Offset, Length: a.Length}
	}
	r, err := block.Restrict(img, ext)
	if err != nil {
		return full("vCenter's areas: %v", err)
	}
	n, bytes := r.Areas()
	return &mappedSource{Image: r, note: fmt.Sprintf("changed block tracking: %d areas, %d of %d bytes", n, bytes, img.Size())}
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
