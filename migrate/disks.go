package migrate

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/podvm-migrate/podvm-migrate/convert"
	"github.com/podvm-migrate/podvm-migrate/convert/block"
	"github.com/podvm-migrate/podvm-migrate/disksource"
	"github.com/podvm-migrate/podvm-migrate/image"
	"github.com/podvm-migrate/podvm-migrate/plan"
	"github.com/podvm-migrate/podvm-migrate/podvm"
	"github.com/podvm-migrate/podvm-migrate/runrecord"
)

// Disks is the work on a VM's disks that does not depend on the target:
// each source disk copied and converted into a qcow2 in the run directory
// (guest conversion included), and the digest of one already there.
type Disks interface {
	// Transfer copies one source disk into dst (a qcow2 file), streaming and
	// converting in one pass, and returns what it read and wrote.
	Transfer(ctx context.Context, vm *plan.PlannedVM, disk podvm.Disk, dst string, progress func(done, total int64)) (*TransferResult, error)
	// Checksum returns the digest of the guest-visible bytes of a finished
	// disk, to verify it before a rerun skips it.
	Checksum(ctx context.Context, path string) (string, error)
}

// TransferResult is what one disk transfer did.
type TransferResult struct {
	ReadBytes    int64  // bytes read from the source (allocated data only)
	VirtualBytes int64  // guest-visible size
	WrittenBytes int64  // bytes written to the target
	Checksum     string // of the guest-visible bytes, "algorithm:hex"
	SourceFormat string // e.g. vmdk/streamOptimized
	// SourceMap says how the source's map was found when its opener
	// knows (see VSphereDatastore).
	SourceMap string
	// Guest is what guest conversion did, when it was considered.
	Guest *runrecord.GuestConversion
}

// Opener opens a spec disk's source ("[ds1] vm/vm.vmdk" or a file path) for
// reading, and returns what to call once the image is closed (nil when
// there is nothing to do).
type Opener func(ctx context.Context, vm *plan.PlannedVM, d podvm.Disk) (block.Image, func(), error)

// LocalFiles opens disks that are files on this machine (offline VMX, OVF
// or unpacked OVA sources), relative paths against baseDir; the files their
// VMDK descriptors name are confined by paths.
func LocalFiles(baseDir string, paths convert.PathPolicy) Opener {
	return func(_ context.Context, vm *plan.PlannedVM, d podvm.Disk) (block.Image, func(), error) {
		if d.Source == "" {
			return nil, nil, fmt.Errorf("disk %s of %s has no source", d.Name, vm.Name)
		}
		src, err := disksource.Parse(d.Source)
		if err != nil {
			return nil, nil, fmt.Errorf("disk %s of %s: %w", d.Name, vm.Name, err)
		}
		switch src.Kind {
		case disksource.KindDatastore:
			return nil, nil, fmt.Errorf("disk %s of %s is on a vSphere datastore (%s): give the vSphere connection (--url or GOVC_URL)", d.Name, vm.Name, d.Source)
		case disksource.KindVM:
			return nil, nil, fmt.Errorf("disk %s of %s is a disk of a vSphere VM (%s): give the vSphere connection (--url or GOVC_URL)", d.Name, vm.Name, d.Source)
		case disksource.KindURL:
			return nil, nil, fmt.Errorf("disk %s of %s is a URL (%s), not a local file", d.Name, vm.Name, src.URL.Redacted())
		}
		p := src.File
		if !filepath.IsAbs(p) {
			p = filepath.Join(baseDir, p)
		}
		img, err := convert.Open(p, "", paths)
		if err != nil {
			return nil, nil, fmt.Errorf("disk %s of %s: %w", d.Name, vm.Name, err)
		}
		return img, nil, nil
	}
}

// DiskPipeline is the production Disks: convert's streaming engine from
// whatever Open reads, then guest conversion on the boot disk.
type DiskPipeline struct {
	Open Opener
	// GuestConversion is auto, always or never (see convert/guest): whether
	// Transfer runs virt-v2v-in-place on the copied disk. Empty is never.
	GuestConversion string
	// GuestCacheDir keeps libguestfs' appliance between runs; empty:
	// guest.DefaultCacheDir().
	GuestCacheDir string
	// ApplianceAccel says which accelerator libguestfs' appliance may use
	// (kvm only where KVM is known to work); nil means tcg.
	ApplianceAccel func(ctx context.Context) string
	// LayerHash computes, while each disk is written, the digest of the
	// image layer the disk will become in place (image.LayerHash), so
	// packaging does not read it again. For a target that adopts the
	// transferred disks into an uncompressed layer (RuntimeTarget); it
	// costs a SHA-256 of every disk otherwise wasted.
	LayerHash bool
}

var _ Disks = (*DiskPipeline)(nil)

// Transfer streams the source disk into a qcow2 file.
func (p *DiskPipeline) Transfer(ctx context.Context, vm *plan.PlannedVM, d podvm.Disk, dst string, progress func(done, total int64)) (*TransferResult, error) {
	img, done, err := p.Open(ctx, vm, d)
	if err != nil {
		return nil, err
	}
	defer func() {
		img.Close()
		if done != nil {
			done()
		}
	}()
	o := convert.DiskOptions{Format: convert.FormatQCOW2, Force: true, Sync: true, Progress: progress}
	var lh *image.LayerHash
	if p.LayerHash && d.Name == adoptedDisk(vm) {
		lh = image.NewLayerHash(d.Name)
		o.Tee = lh.Tee
	}
	image.DropLayerHash(dst) // an earlier run's, for a file about to be replaced
	res, err := convert.DiskFrom(ctx, img, d.Source, dst, o)
	if err != nil {
		return nil, err
	}
	if lh != nil {
		// Without a record (it could not be written) the packaging
		// hashes the disk instead: nothing is lost but time.
		_ = lh.Save(dst)
	}
	tr := &TransferResult{ReadBytes: res.ReadBytes, VirtualBytes: res.VirtualBytes, WrittenBytes: res.WrittenBytes, Checksum: res.SourceChecksum,
		SourceFormat: res.SourceFormat}
	if m, ok := img.(interface{ SourceMap() string }); ok {
		tr.SourceMap = m.SourceMap()
	}
	if err := p.convertGuest(ctx, vm, d, dst, tr); err != nil {
		image.DropLayerHash(dst)
		return nil, err
	}
	if tr.Guest != nil && tr.Guest.Result == runrecord.GuestConverted {
		image.DropLayerHash(dst) // virt-v2v rewrote the disk in place
	}
	return tr, nil
}

// adoptedDisk names the disk of vm the packaging most likely takes as its
// layer in place (the biggest file; the biggest disk stands in for it
// before the transfer): only its layer digest is worth computing ahead.
func adoptedDisk(vm *plan.PlannedVM) string {
	name, size := "", int64(-1)
	for _, d := range vm.Spec.Disks {
		if d.CapacityBytes > size {
			name, size = d.Name, d.CapacityBytes
		}
	}
	return name
}

// Checksum reads a finished qcow2 disk's guest-visible digest.
func (p *DiskPipeline) Checksum(ctx context.Context, path string) (string, error) {
	return convert.Checksum(ctx, path, convert.FormatQCOW2, "", 0)
}
