package vcsim

import (
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/podvm-migrate/podvm-migrate/testenv/internal/diskimg"
)

// diskMaker places real disk files in the simulator's datastores.
type diskMaker struct {
	v         *Simulator
	guestVMDK string // hard-linked as every first disk; empty: generated flat VMDKs
	guestCap  int64
	shareOnce sync.Once
	sharePath string
	shareErr  error
}

func newDiskMaker(v *Simulator, guestVMDK string) (*diskMaker, error) {
	d := &diskMaker{v: v, guestVMDK: guestVMDK}
	if guestVMDK != "" {
		c, err := sparseCapacity(guestVMDK)
		if err != nil {
			return nil, err
		}
		d.guestCap = c
	}
	return d, nil
}

// sparseCapacity reads the guest-visible size from a monolithicSparse or
// streamOptimized VMDK header ("KDMV", version, flags, capacity in sectors).
func sparseCapacity(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("vsphere simulator: guest disk: %w", err)
	}
	defer f.Close()
	var hdr [20]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		return 0, fmt.Errorf("vsphere simulator: guest disk %s: %w", path, err)
	}
	if string(hdr[:4]) != "KDMV" {
		return 0, fmt.Errorf("vsphere simulator: guest disk %s: not a sparse VMDK", path)
	}
	return int64(binary.LittleEndian.Uint64(hdr[12:20])) * 512, nil
}

// primary places the first disk of VM name: the guest VMDK hard-linked
// (copied across file systems), or a generated flat VMDK of 64 MiB.
func (d *diskMaker) primary(name string) (string, int64, error) {
	if d.guestVMDK == "" {
		return d.flat("datastore1", name, name, 64<<20)
	}
	dir := filepath.Join(d.v.Datastores["datastore1"], name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", 0, fmt.Errorf("vsphere simulator: %w", err)
	}
	dst := filepath.Join(dir, name+".vmdk")
	if err := os.Link(d.guestVMDK, dst); err != nil {
		if err := diskimg.CopyFile(dst, d.guestVMDK); err != nil {
			return "", 0, fmt.Errorf("vsphere simulator: place %s: %w", dst, err)
		}
	}
	return fmt.Sprintf("[datastore1] %s/%s.vmdk", name, name), d.guestCap, nil
}

// flat writes a vmfs (flat) VMDK: a descriptor base.vmdk and a sparse
// base-flat.vmdk extent of the given size, in folder dir of datastore ds.
func (d *diskMaker) flat(ds, dir, base string, capacity int64) (string, int64, error) {
	folder := filepath.Join(d.v.Datastores[ds], dir)
	if err := os.MkdirAll(folder, 0o755); err != nil {
		return "", 0, fmt.Errorf("vsphere simulator: %w", err)
	}
	extent := filepath.Join(folder, base+"-flat.vmdk")
	f, err := os.Create(extent)
	if err != nil {
		return "", 0, fmt.Errorf("vsphere simulator: %w", err)
	}
	if err := f.Truncate(capacity); err != nil {
		f.Close()
		return "", 0, fmt.Errorf("vsphere simulator: %s: %w", extent, err)
	}
	if err := f.Close(); err != nil {
		return "", 0, fmt.Errorf("vsphere simulator: %s: %w", extent, err)
	}
	cid := sha1.Sum([]byte(dir + "/" + base))
	desc := fmt.Sprintf(`# Disk DescriptorFile
version=1
encoding="UTF-8"
CID=%s
parentCID=ffffffff
createType="vmfs"

# Extent description
RW %d VMFS "%s-flat.vmdk"

# The Disk Data Base
#DDB

ddb.adapterType = "lsilogic"
ddb.geometry.cylinders = "%d"
ddb.geometry.heads = "255"
ddb.geometry.sectors = "63"
ddb.uuid = "60 00 C2 9%s"
ddb.virtualHWVersion = "19"
`, hex.EncodeToString(cid[:4]), capacity/512, base, max(capacity/512/(255*63), 1), hex.EncodeToString(cid[4:11]))
	if err := os.WriteFile(filepath.Join(folder, base+".vmdk"), []byte(desc), 0o644); err != nil {
		return "", 0, fmt.Errorf("vsphere simulator: %w", err)
	}
	return fmt.Sprintf("[%s] %s/%s.vmdk", ds, dir, base), capacity, nil
}

// shared returns the one multi-writer disk every sharedDisk VM attaches.
func (d *diskMaker) shared() (string, int64, error) {
	d.shareOnce.Do(func() { d.sharePath, _, d.shareErr = d.flat("datastore1", "shared", "quorum", 8<<20) })
	return d.sharePath, 8 << 20, d.shareErr
}

// rdm writes the mapping file of a physical-mode RDM and returns its
// datastore path and the fake LUN id.
func (d *diskMaker) rdm(name string) (string, string, error) {
	sum := sha1.Sum([]byte(name))
	lun := hex.EncodeToString(sum[:8])
	folder := filepath.Join(d.v.Datastores["datastore1"], name)
	if err := os.MkdirAll(folder, 0o755); err != nil {
		return "", "", fmt.Errorf("vsphere simulator: %w", err)
	}
	desc := fmt.Sprintf("# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType=\"vmfsPassthroughRawDeviceMap\"\n\nRW 2097152 VMFSRDM \"%s_rdm-rdmp.vmdk\"\n", name)
	if err := os.WriteFile(filepath.Join(folder, name+"_rdm.vmdk"), []byte(desc), 0o644); err != nil {
		return "", "", fmt.Errorf("vsphere simulator: %w", err)
	}
	return fmt.Sprintf("[datastore1] %s/%s_rdm.vmdk", name, name), lun, nil
}
