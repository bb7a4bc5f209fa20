package vmdk

import (
	"errors"
	"fmt"

	"github.com/podvm-migrate/podvm-migrate/convert/block"
)

// maxChain bounds a snapshot chain; vSphere allows 32 snapshots.
const maxChain = 255

// Open opens a local VMDK and, through parentFileNameHint, every parent
// down to the base disk: reads see the newest data of the chain. The files
// its descriptors name are confined by p (see Policy).
func Open(path string, p Policy) (block.Image, error) {
	return openChain(path, &files{policy: p})
}

// OpenWith is Open reading the files of a server through open (a
// datastore's, by slash-separated paths): a descriptor may name only files
// in its own folder there.
func OpenWith(path string, open Opener) (block.Image, error) {
	return openChain(path, &files{open: open})
}

// OpenMember is Open for a VMDK inside an archive (an OVA), whose members
// open reads by slash-separated paths below the archive's path: a
// descriptor may name the members in its own folder there, and the local
// files p allows by absolute paths.
func OpenMember(path string, open Opener, p Policy) (block.Image, error) {
	return openChain(path, &files{open: open, policy: p, archive: true})
}

func openChain(path string, fl *files) (block.Image, error) {
	f, err := fl.openTop(path)
	if err != nil {
		return nil, err
	}
	return fl.chain(path, f, map[string]string{}, "")
}

// chain opens the disk in f (at path), then its parents; child is the
// disk that named it, for messages.
func (fl *files) chain(path string, f *block.File, seen map[string]string, child string) (block.Image, error) {
	key := fl.key(path)
	if _, ok := seen[key]; ok {
		f.Close()
		return nil, fmt.Errorf("%s: offset 0: snapshot chain loops: its parentFileNameHint names %s, which is already in the chain", child, path)
	}
	if len(seen) >= maxChain {
		f.Close()
		return nil, fmt.Errorf("%s: snapshot chain is longer than %d disks", path, maxChain)
	}
	seen[key] = path
	d, err := openDisk(path, f, fl)
	if err != nil {
		return nil, err
	}
	hint := d.Descriptor.ParentFileNameHint
	if hint == "" {
		return d, nil
	}
	pf, ppath, err := fl.openNamed(path, d.Descriptor.ParentLine, "parentFileNameHint", hint)
	var refused *RefusedError
	if errors.As(err, &refused) {
		d.Close()
		return nil, err
	}
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("parent of %s: %w", path, err)
	}
	parent, err := fl.chain(ppath, pf, seen, path)
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
