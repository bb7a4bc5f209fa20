// Package debian builds the real Debian 12 test guest: a VMware-style
// install (pvscsi, vmxnet3, open-vm-tools, an initramfs without virtio,
// GRUB, an fstab by UUID) that prints the readiness line from a systemd
// unit, as a monolithicSparse VMDK and a VMX, cached by a hash of its
// recipe. Guest conversion tests use it as the guest virt-v2v must fix.
//
// Building takes several minutes and needs root (debootstrap and chroot),
// debootstrap, e2fsprogs (mkfs.ext4 -d), qemu-img and a reachable Debian
// archive; make deps installs the tools. Nothing is mounted. Reading a
// cached build needs none of that.
package debian

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/podvm-migrate/podvm-migrate/testenv"
	"github.com/podvm-migrate/podvm-migrate/testenv/internal/cmdrun"
	"github.com/podvm-migrate/podvm-migrate/testenv/internal/diskimg"
	"github.com/podvm-migrate/podvm-migrate/testenv/testguest"
)

// Artefact file names of the Debian test guest.
const (
	VMDK           = "debian.vmdk" // monolithicSparse VMDK of the whole disk
	VMX            = "debian.vmx"  // VMX naming debian.vmdk: pvscsi controller, vmxnet3 NIC
	debianMeta     = "debian.json" // the Guest, written last: its presence marks a finished build
	debianDiskMiB  = 2048
	debianMemMiB   = 1024
	debianCacheDir = "debian"
)

// Options says how to build (or find) the Debian test guest.
type Options struct {
	CacheDir string // where finished images are kept, one folder per recipe hash; default testenv.DefaultCacheDir()
	Mirror   string // Debian archive; default the one apt on this host uses for bookworm
	DiskMiB  int    // guest-visible disk size; default 2048
	Rebuild  bool   // build even when the cache holds this recipe
	// Net configures the guest's NIC as an admin on VMware would, with
	// ifupdown bound to ens192 (the zero value: no network configuration).
	// Each network is a recipe of its own, cached apart.
	Net Net
	Log func(format string, args ...any)
}

// Guest is a built Debian 12 test guest: a VMware-style install
// (pvscsi, vmxnet3, open-vm-tools, an initramfs without virtio, GRUB, an
// fstab by UUID) that prints the readiness line from a systemd unit after
// multi-user.target.
type Guest struct {
	Dir           string             `json:"dir"`
	Key           string             `json:"key"` // hash of the recipe
	Kernel        string             `json:"kernel"`
	RootUUID      string             `json:"rootUUID"`
	CapacityBytes int64              `json:"capacityBytes"`
	Net           string             `json:"net,omitempty"` // the --net it was built with; empty: none
	Hardware      testguest.Hardware `json:"hardware"`
	BuildTime     time.Duration      `json:"buildTime"`
	Cached        bool               `json:"cached"`
}

// Path returns the path of one artefact.
func (g *Guest) Path(name string) string { return filepath.Join(g.Dir, name) }

// Hardware is the VMware hardware the Debian guest is described with.
func Hardware() testguest.Hardware {
	hw := testguest.DefaultHardware("bios")
	hw.Name = "debian12"
	hw.MemoryMiB = debianMemMiB
	hw.MAC = "00:50:56:3f:00:12"
	return hw
}

// Cached returns the cached Debian guest for the current recipe (without
// network configuration), or an error if it has not been built.
func Cached(cacheDir string, diskMiB int) (*Guest, error) {
	return CachedFor(Options{CacheDir: cacheDir, DiskMiB: diskMiB})
}

// CachedFor returns the cached Debian guest for the recipe o describes
// (cache folder, disk size, network), or an error if it has not been built.
func CachedFor(o Options) (*Guest, error) {
	cacheDir, diskMiB := o.CacheDir, o.DiskMiB
	if cacheDir == "" {
		cacheDir = testenv.DefaultCacheDir()
	}
	if diskMiB == 0 {
		diskMiB = debianDiskMiB
	}
	dir := filepath.Join(cacheDir, debianCacheDir, debianRecipeKey(diskMiB, o.Net))
	b, err := os.ReadFile(filepath.Join(dir, debianMeta))
	if err != nil {
		return nil, fmt.Errorf("debian guest: not built: %w", err)
	}
	var g Guest
	if err := json.Unmarshal(b, &g); err != nil {
		return nil, fmt.Errorf("debian guest: %s: %w", filepath.Join(dir, debianMeta), err)
	}
	g.Dir, g.Cached = dir, true
	return &g, nil
}

// Build returns the Debian test guest, building it when the cache
// does not hold the current recipe. Nothing is mounted: debootstrap fills
// a folder, the packages' own tools run in a chroot of it, mkfs.ext4 -d
// turns it into the root partition, and GRUB's boot.img and core.img are
// placed in front of it by hand. Building takes several minutes.
func Build(ctx context.Context, o Options) (*Guest, error) {
	if o.CacheDir == "" {
		o.CacheDir = testenv.DefaultCacheDir()
	}
	if o.DiskMiB == 0 {
		o.DiskMiB = debianDiskMiB
	}
	if o.DiskMiB < 1024 {
		return nil, fmt.Errorf("debian guest: disk of %d MiB is too small: need at least 1024", o.DiskMiB)
	}
	logf := o.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if !o.Rebuild {
		if g, err := CachedFor(o); err == nil {
			return g, nil
		}
	}
	if o.Mirror == "" {
		m, err := AptMirror("/", Suite)
		if err != nil {
			return nil, fmt.Errorf("debian guest: %w", err)
		}
		o.Mirror = m
	}
	start := time.Now()
	key := debianRecipeKey(o.DiskMiB, o.Net)
	final := filepath.Join(o.CacheDir, debianCacheDir, key)
	parent := filepath.Dir(final)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, fmt.Errorf("debian guest: %w", err)
	}
	work, err := os.MkdirTemp(parent, ".build-")
	if err != nil {
		return nil, fmt.Errorf("debian guest: %w", err)
	}
	defer os.RemoveAll(work)
	w := func(name string) string { return filepath.Join(work, name) }
	root := w("root")
	uuid := uuidFrom(key)

	packages := o.Net.packages()
	logf("debootstrap %s (minbase + %s) from %s", Suite, strings.Join(packages, ", "), o.Mirror)
	debs := filepath.Join(o.CacheDir, "debs", "debootstrap")
	if err := os.MkdirAll(debs, 0o755); err != nil {
		return nil, fmt.Errorf("debian guest: %w", err)
	}
	if err := cmdrun.RunEnv(ctx, []string{"DEBIAN_FRONTEND=noninteractive"}, "debootstrap", "--variant=minbase",
		"--cache-dir="+debs, "--include="+strings.Join(packages, ","), Suite, root, o.Mirror); err != nil {
		return nil, fmt.Errorf("debian guest: %w", err)
	}
	logf("configuring: fstab by UUID %s, initramfs without virtio, GRUB on the serial console, readiness unit", uuid)
	if o.Net.Mode != NetDefault {
		logf("network: %s on %s with ifupdown", o.Net, VMwareNIC)
	}
	if err := writeDebianFiles(root, uuid, o.Net); err != nil {
		return nil, err
	}
	release, err := rootKernel(root)
	if err != nil {
		return nil, err
	}
	if err := cmdrun.Run(ctx, "chroot", root, "passwd", "-d", "root"); err != nil {
		return nil, fmt.Errorf("debian guest: %w", err)
	}
	if err := cmdrun.Run(ctx, "chroot", root, "update-initramfs", "-u", "-k", release); err != nil {
		return nil, fmt.Errorf("debian guest: %w", err)
	}
	if err := installGrubFiles(ctx, root, release, uuid, w("core.img")); err != nil {
		return nil, err
	}
	for _, d := range []string{"var/cache/apt/archives", "var/lib/apt/lists"} {
		cleanFolder(filepath.Join(root, d))
	}

	logf("building the root file system and the disk (%d MiB)", o.DiskMiB)
	capacity := int64(o.DiskMiB) << 20
	partBytes := capacity - diskimg.PartitionStart*diskimg.SectorSize
	if err := diskimg.CreateSized(w("root.img"), partBytes); err != nil {
		return nil, fmt.Errorf("debian guest: %w", err)
	}
	if err := cmdrun.Run(ctx, "mkfs.ext4", "-q", "-F", "-L", "root", "-U", uuid, "-O", "^metadata_csum_seed,^orphan_file",
		"-d", root, w("root.img")); err != nil {
		return nil, fmt.Errorf("debian guest: %w", err)
	}
	if err := assembleGrubDisk(w("debian.raw"), capacity, filepath.Join(root, "usr/lib/grub/i386-pc/boot.img"), w("core.img"), w("root.img")); err != nil {
		return nil, err
	}
	os.Remove(w("root.img"))
	os.Remove(w("core.img"))
	if err := cmdrun.Run(ctx, "qemu-img", "convert", "-f", "raw", "-O", "vmdk", "-o", "adapter_type=lsilogic", w("debian.raw"), w(VMDK)); err != nil {
		return nil, fmt.Errorf("debian guest: %w", err)
	}
	os.Remove(w("debian.raw"))
	hw := Hardware()
	if err := os.WriteFile(w(VMX), []byte(hw.VMX(VMDK)), 0o644); err != nil {
		return nil, fmt.Errorf("debian guest: %w", err)
	}
	os.RemoveAll(root)
	g := &Guest{Key: key, Kernel: release, RootUUID: uuid, CapacityBytes: capacity, Net: o.Net.String(), Hardware: hw, BuildTime: time.Since(start)}
	b, err := json.MarshalIndent(g, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("debian guest: %w", err)
	}
	if err := os.WriteFile(w(debianMeta), b, 0o644); err != nil {
		return nil, fmt.Errorf("debian guest: %w", err)
	}
	if err := os.Chmod(work, 0o755); err != nil {
		return nil, fmt.Errorf("debian guest: %w", err)
	}
	os.RemoveAll(final)
	if err := os.Rename(work, final); err != nil {
		return nil, fmt.Errorf("debian guest: %w", err)
	}
	g.Dir = final
	logf("built in %s: %s", g.BuildTime.Round(time.Second), final)
	return g, nil
}

// writeDebianFiles writes the recipe's files and enables the readiness unit.
func writeDebianFiles(root, uuid string, net Net) error {
	for name, text := range debianFiles(uuid, net) {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("debian guest: %w", err)
		}
		mode := os.FileMode(0o644)
		if strings.HasPrefix(name, "usr/local/sbin/") {
			mode = 0o755
		}
		if err := os.WriteFile(p, []byte(text), mode); err != nil {
			return fmt.Errorf("debian guest: %w", err)
		}
		if err := os.Chmod(p, mode); err != nil {
			return fmt.Errorf("debian guest: %w", err)
		}
	}
	wants := filepath.Join(root, "etc/systemd/system/multi-user.target.wants")
	if err := os.MkdirAll(wants, 0o755); err != nil {
		return fmt.Errorf("debian guest: %w", err)
	}
	link := filepath.Join(wants, "podvm-ready.service")
	os.Remove(link)
	if err := os.Symlink("/etc/systemd/system/podvm-ready.service", link); err != nil {
		return fmt.Errorf("debian guest: %w", err)
	}
	return nil
}

// rootKernel returns the release of the one kernel installed in root.
func rootKernel(root string) (string, error) {
	m, _ := filepath.Glob(filepath.Join(root, "boot", "vmlinuz-*"))
	sort.Strings(m)
	if len(m) == 0 {
		return "", fmt.Errorf("debian guest: no kernel in %s/boot", root)
	}
	return strings.TrimPrefix(filepath.Base(m[len(m)-1]), "vmlinuz-"), nil
}

// cleanFolder empties dir but keeps it (and its "partial" subfolder).
func cleanFolder(dir string) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		os.Remove(filepath.Join(dir, e.Name()))
	}
}
