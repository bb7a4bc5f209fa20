package vmdk

import (
	"fmt"
	"path/filepath"

	"github.com/podvm-migrate/podvm-migrate/convert/block"
)

// maxChain bounds a snapshot chain; vSphere allows 32 snapshots.
const maxChain = 255

// Open opens a VMDK and, through parentFileNameHint, every parent down to
// the base disk: reads see the newest data of the chain.
func Open(path string) (block.Image, error) { return OpenWith(path, nil) }

// OpenWith is Open reading files through open; nil means local files.
func OpenWith(path string, open Opener) (block.Image, error) {
	return openChain(path, map[string]string{}, "", open)
}

func openChain(path string, seen map[string]string, child string, open Opener) (block.Image, error) {
	key := filepath.Clean(path)
	if open == nil {
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, err
		}
		key = abs
		if real, err := filepath.EvalSymlinks(abs); err == nil {
			key = real
		}
	}
	if _, ok := seen[key]; ok {
		return nil, fmt.Errorf("%s: offset 0: snapshot chain loops: its parentFileNameHint names %s, which is already in the chain", child, path)
	}
	if len(seen) >= maxChain {
		return nil, fmt.Errorf("%s: snapshot chain is longer than %d disks", path, maxChain)
	}
	seen[key] = path
	o := open
	if o == nil {
		o = block.OpenFile
	}
	d, err := OpenDiskWith(path, o)
	if err != nil {
		return nil, err
	}
	hint := d.Descriptor.ParentFileNameHint
	if hint == "" {
		return d, nil
	}
	ppath := hint
	if !filepath.IsAbs(ppath) {
		ppath = filepath.Join(filepath.Dir(path), hint)
	}
	parent, err := openChain(ppath, seen, path, open)
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("parent of %s: %w", path, err)
	}
	if pd, ok := baseDisk(parent); ok && d.Descriptor.ParentCID != noParent && pd.Descriptor.CID != d.Descriptor.ParentCID {
		d.Close()
		parent.Close()
		return nil, block.Errorf(path, 0, "parentCID %08x does not match the CID %08x of parent %s: the parent changed after the snapshot", d.Descriptor.ParentCID, pd.Descriptor.CID, ppath)
	}
	return &block.Overlay{Top: d, Base: parent}, nil
}

// baseDisk returns the top Disk of an opened chain.
func baseDisk(img block.Image) (*Disk, bool) {
	switch v := img.(type) {
	case *Disk:
		return v, true
	case *block.Overlay:
		d, ok := v.Top.(*Disk)
		return d, ok
	}
	return nil, false
}
