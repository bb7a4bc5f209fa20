package image

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/podvm-migrate/podvm-migrate/convert"
	"github.com/podvm-migrate/podvm-migrate/convert/block"
	"github.com/podvm-migrate/podvm-migrate/convert/qcow2"
)

// Disk file formats, as convert names them.
const (
	FormatQCOW2 = convert.FormatQCOW2
	FormatVMDK  = convert.FormatVMDK
	FormatRaw   = convert.FormatRaw
)

// DiskFormat names a disk file's format as convert detects it (qcow2, vmdk,
// raw or ova) and returns its guest-visible size, read through convert: a
// VMDK descriptor with its extents, a snapshot delta through its parents.
func DiskFormat(path string) (format string, virtualSize int64, err error) {
	d, err := openDisk(path, convert.PathPolicy{})
	if err != nil {
		return "", 0, err
	}
	defer d.img.Close()
	return d.format, d.img.Size(), nil
}

// sourceDisk is a disk file given to Build, opened with convert.
type sourceDisk struct {
	path   string
	format string      // what convert.Detect says
	img    block.Image // the guest view, backing chains followed
}

// openDisk opens a regular disk file with convert's detector and readers;
// the files a VMDK descriptor names are confined by p.
func openDisk(path string, p convert.PathPolicy) (*sourceDisk, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("disk %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("disk %s: not a regular file", path)
	}
	format, err := convert.Detect(path)
	if err != nil {
		return nil, fmt.Errorf("disk %s: %w", path, err)
	}
	img, err := convert.Open(path, format, p)
	if err != nil {
		return nil, fmt.Errorf("disk %s: %w", path, err)
	}
	return &sourceDisk{path: path, format: format, img: img}, nil
}

// asIs reports whether the file can go into the image unchanged: a qcow2
// that stands alone (no backing file).
func (d *sourceDisk) asIs() bool {
	q, ok := d.img.(*qcow2.Image)
	return ok && d.format == FormatQCOW2 && q.BackingFile == ""
}

// qcow2In returns a qcow2 file holding the disk: the file itself when it
// can go in as it is (once its tables check out), else a new NAME.qcow2 in
// dir written by convert's engine (holes and zeros never written).
//
// With prehash (the new file may become the layer in place) the converter
// also computes the layer's digest as it writes (LayerHash), so adopting
// the file does not read it again.
func (d *sourceDisk) qcow2In(ctx context.Context, dir, name string, prehash bool) (string, error) {
	if d.asIs() {
		if err := mapAll(ctx, d.img); err != nil {
			return "", fmt.Errorf("disk %s: %w", d.path, err)
		}
		return d.path, nil
	}
	dst := filepath.Join(dir, name+".qcow2")
	o := convert.DiskOptions{Format: FormatQCOW2, Checksum: convert.SumNone}
	var lh *LayerHash
	if prehash {
		lh = NewLayerHash(name)
		o.Tee = lh.Tee
	}
	if _, err := convert.DiskFrom(ctx, d.img, d.path, dst, o); err != nil {
		return "", fmt.Errorf("disk %s: convert to qcow2: %w", d.path, err)
	}
	if lh != nil {
		_ = lh.Save(dst) // without a record, adoption hashes the file instead
	}
	return dst, nil
}

// mapAll walks an image's map from start to end without reading guest
// data, so every table is read and every data run is checked to lie inside
// the file: a qcow2 cut short fails here rather than in the guest.
func mapAll(ctx context.Context, img block.Image) error {
	for off := int64(0); off < img.Size(); {
		if err := ctx.Err(); err != nil {
			return err
		}
		r, err := img.Map(ctx, off, img.Size()-off)
		if err != nil {
			return err
		}
		if r.Length <= 0 {
			return fmt.Errorf("offset %d: bad run length %d", off, r.Length)
		}
		off += r.Length
	}
	return nil
}
