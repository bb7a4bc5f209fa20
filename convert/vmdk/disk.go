package vmdk

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"

	"github.com/podvm-migrate/podvm-migrate/convert/block"
)

// extent maps offsets relative to its own start.
type extent interface {
	Map(ctx context.Context, off, max int64) (block.Run, error)
	Close() error
	file() *block.File // the extent's file; nil for none
}

// zeroExtent is a ZERO extent line: no file, all zeros.
type zeroExtent struct{}

func (zeroExtent) Map(_ context.Context, off, max int64) (block.Run, error) {
	return block.Run{Length: max, Kind: block.Zero}, nil
}
func (zeroExtent) Close() error      { return nil }
func (zeroExtent) file() *block.File { return nil }

// Disk is one VMDK (a descriptor and its extents), without its parent.
type Disk struct {
	Path       string
	Descriptor *Descriptor
	starts     []int64 // guest byte offset of each extent
	extents    []extent
	size       int64
	cur        int
}

var _ block.Image = (*Disk)(nil)

// Format is "vmdk/" and the descriptor's createType.
func (d *Disk) Format() string { return "vmdk/" + d.Descriptor.CreateType }

// Size is the guest size in bytes.
func (d *Disk) Size() int64 { return d.size }

// Map maps a guest offset through the extent that holds it.
func (d *Disk) Map(ctx context.Context, off, max int64) (block.Run, error) {
	if off < 0 || off >= d.size {
		return block.Run{}, fmt.Errorf("%s: offset %d is outside the disk (%d bytes)", d.Path, off, d.size)
	}
	if off < d.starts[d.cur] || (d.cur+1 < len(d.starts) && off >= d.starts[d.cur+1]) {
		d.cur = sort.Search(len(d.starts), func(i int) bool { return d.starts[i] > off }) - 1
	}
	end := d.size
	if d.cur+1 < len(d.starts) {
		end = d.starts[d.cur+1]
	}
	start := d.starts[d.cur]
	return d.extents[d.cur].Map(ctx, off-start, min(max, end-off))
}

// Close closes every extent file.
func (d *Disk) Close() error {
	var errs []error
	for _, e := range d.extents {
		errs = append(errs, e.Close())
	}
	return errors.Join(errs...)
}

// Opener opens a file that a disk names, by a slash-separated path: files
// on a server (a datastore) or in an archive (an OVA's members).
type Opener func(path string) (*block.File, error)

// OpenDisk opens one local VMDK, either a descriptor file or a sparse extent
// with an embedded descriptor, without following its parent. The extents
// it names are confined by p (see Policy).
func OpenDisk(path string, p Policy) (*Disk, error) {
	fl := &files{policy: p}
	f, err := fl.openTop(path)
	if err != nil {
		return nil, err
	}
	return openDisk(path, f, fl)
}

// openDisk opens the VMDK in f (at path) and the extents it names through
// fl; it owns f.
func openDisk(path string, f *block.File, fl *files) (*Disk, error) {
	head := make([]byte, min(sector, f.Len))
	if err := f.ReadFull(head, 0); err != nil {
		f.Close()
		return nil, err
	}
	if len(head) >= 4 {
		switch binary.LittleEndian.Uint32(head) {
		case sparseMagic:
			return openSparseFile(f, path, fl)
		case cowdMagic:
			f.Close()
			return nil, block.Errorf(path, 0, "a vmfsSparse (COWD) delta extent, which has no descriptor: open the descriptor .vmdk that names it")
		}
	}
	if len(head) >= 8 && binary.LittleEndian.Uint64(head) == seConstMagic {
		f.Close()
		return nil, block.Errorf(path, 0, "an SEsparse delta extent, which has no descriptor: open the descriptor .vmdk that names it")
	}
	defer f.Close()
	if f.Len > maxDescriptor {
		return nil, block.Errorf(path, 0, "not a VMDK: no sparse magic, and too large for a descriptor")
	}
	text := make([]byte, f.Len)
	if err := f.ReadFull(text, 0); err != nil {
		return nil, err
	}
	desc, err := ParseDescriptor(path, 0, text)
	if err != nil {
		return nil, err
	}
	return openExtents(path, desc, nil, fl)
}

// openSparseFile opens a sparse extent: a monolithicSparse or streamOptimized
// disk with its descriptor inside, or one extent file opened on its own.
func openSparseFile(f *block.File, path string, fl *files) (*Disk, error) {
	hb := make([]byte, sector)
	if err := f.ReadFull(hb, 0); err != nil {
		f.Close()
		return nil, err
	}
	h, err := parseSparseHeader(f.Name, 0, hb)
	if err != nil {
		f.Close()
		return nil, err
	}
	var desc *Descriptor
	if h.DescOffset != 0 && h.DescSize != 0 {
		off := int64(h.DescOffset) * sector
		if h.DescSize > maxDescriptor/sector {
			f.Close()
			return nil, block.Errorf(f.Name, 36, "embedded descriptor of %d sectors is too large", h.DescSize)
		}
		text := make([]byte, int64(h.DescSize)*sector)
		if err := f.ReadFull(text, off); err != nil {
			f.Close()
			return nil, fmt.Errorf("embedded descriptor: %w", err)
		}
		if desc, err = ParseDescriptor(f.Name, off, text); err != nil {
			f.Close()
			return nil, err
		}
		// The one extent of a hosted sparse file is the file itself, even
		// when it was renamed after the descriptor was written.
		if len(desc.Extents) == 1 && desc.Extents[0].Type == ExtentSparse {
			desc.Extents[0].File = filepath.Base(path)
		}
	} else {
		desc = &Descriptor{Version: 1, CID: noParent, ParentCID: noParent, CreateType: "sparseExtent",
			Extents: []ExtentDesc{{Access: "RW", Sectors: int64(h.Capacity), Type: ExtentSparse, File: filepath.Base(path)}}}
	}
	return openExtents(path, desc, f, fl)
}

// openExtents opens the extents a descriptor names. self is the descriptor's
// own file when it is a sparse extent too.
func openExtents(path string, desc *Descriptor, self *block.File, fl *files) (*Disk, error) {
	d := &Disk{Path: path, Descriptor: desc}
	fail := func(err error) (*Disk, error) {
		d.Close()
		if self != nil && !d.uses(self) {
			self.Close()
		}
		return nil, err
	}
	for _, ed := range desc.Extents {
		size := ed.Sectors * sector
		d.starts = append(d.starts, d.size)
		d.size += size
		if ed.Type == ExtentZero {
			d.extents = append(d.extents, zeroExtent{})
			continue
		}
		var f *block.File
		var err error
		var refused *RefusedError
		if self != nil && !d.uses(self) && filepath.Join(filepath.Dir(path), ed.File) == filepath.Clean(path) {
			f = self
		} else if f, _, err = fl.openNamed(path, ed.LineNo, "extent file", ed.File); err != nil {
			switch {
			case errors.As(err, &refused):
				return fail(err)
			case errors.Is(err, fs.ErrNotExist):
				return fail(block.Errorf(path, ed.Line, "extent file %q is missing", ed.File))
			}
			return fail(block.Wrap(path, ed.Line, err, "extent file %q", ed.File))
		}
		var e extent
		switch ed.Type {
		case ExtentSparse, ExtentVMFSSparse:
			e, err = openAnySparse(f, size, ed.Type)
		case ExtentSESparse:
			e, err = openSESparse(f, size)
		case ExtentFlat, ExtentVMFS, ExtentVMFSRaw, ExtentVMFSRDM:
			e, err = openFlat(f, ed.Offset*sector, size, ed.Line, path)
		default:
			err = block.Errorf(path, ed.Line, "%s extents are not supported", ed.Type)
		}
		if err != nil {
			if f != self {
				f.Close()
			}
			return fail(err)
		}
		d.extents = append(d.extents, e)
	}
	return d, nil
}

// openAnySparse opens a SPARSE or VMFSSPARSE extent by its magic, as QEMU
// does: a hosted sparse (KDMV) or an ESX vmfsSparse (COWD) extent; typ says
// which one an extent without either magic was meant to be.
func openAnySparse(f *block.File, size int64, typ string) (extent, error) {
	var magic [4]byte
	if f.Len >= 4 {
		if err := f.ReadFull(magic[:], 0); err != nil {
			return nil, err
		}
	}
	switch m := binary.LittleEndian.Uint32(magic[:]); {
	case m == cowdMagic, m != sparseMagic && typ == ExtentVMFSSparse:
		e, err := openCOWD(f, size)
		if err != nil {
			return nil, err
		}
		return e, nil
	}
	e, err := openSparse(f, size)
	if err != nil {
		return nil, err
	}
	return e, nil
}

// uses reports whether an extent of d already owns f.
func (d *Disk) uses(f *block.File) bool {
	for _, e := range d.extents {
		if e.file() == f {
			return true
		}
	}
	return false
}
