package runtime

import (
	"encoding/json"
	"fmt"

	"libvirt.org/go/libvirtxml"
)

// backingName is how a qcow2 overlay names its base: the file, or for a
// slice QEMU's json: form of the format node on a raw node with an offset
// and size, which qemu-img and QEMU open as they are. libvirt cannot parse
// that form, so the domain gives the chain itself (backingStore).
func (b baseDisk) backingName() (string, error) {
	if b.slice == nil {
		return b.path, nil
	}
	spec := map[string]any{
		"driver": b.format,
		"file": map[string]any{
			"driver": "raw", "offset": b.slice.Offset, "size": b.slice.Size,
			"file": map[string]any{"driver": "file", "filename": b.path},
		},
	}
	j, err := json.Marshal(spec)
	if err != nil {
		return "", fmt.Errorf("backing %s: %w", b.path, err)
	}
	return "json:" + string(j), nil
}

// backingStore is the libvirt backing chain of an overlay on a slice: the
// layer file with a storage slice (libvirt 9.0 hands QEMU its offset and
// size), left as it is by libvirt's DAC labelling, since it is the image's
// read-only file shared by every pod VM and needs none. nil for a whole
// file, whose chain libvirt reads from the overlay.
func (b baseDisk) backingStore() *libvirtxml.DomainDiskBackingStore {
	if b.slice == nil {
		return nil
	}
	return &libvirtxml.DomainDiskBackingStore{
		Format: &libvirtxml.DomainDiskFormat{Type: b.format},
		Source: &libvirtxml.DomainDiskSource{
			File: &libvirtxml.DomainDiskSourceFile{File: b.path,
				SecLabel: []libvirtxml.DomainDeviceSecLabel{{Model: "dac", Relabel: "no"}}},
			Slices: &libvirtxml.DomainDiskSlices{Slices: []libvirtxml.DomainDiskSlice{
				{Type: "storage", Offset: uint(b.slice.Offset), Size: uint(b.slice.Size)}}},
		},
		BackingStore: &libvirtxml.DomainDiskBackingStore{},
	}
}
