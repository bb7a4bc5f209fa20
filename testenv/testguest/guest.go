// Package testguest builds the bootable test guest: a small hybrid
// BIOS/UEFI disk (syslinux on a FAT partition, a Debian cloud kernel and a
// busybox initramfs that prints a readiness line on the serial console),
// and from it the files a VMware source holds: raw, monolithicSparse and
// streamOptimized VMDKs, a VMX, an OVF with its manifest, and an OVA. Its
// Hardware type writes the VMX and OVF descriptions of any test guest.
//
// Building needs qemu-img, mkfs.vfat (dosfstools), syslinux with
// syslinux-common and syslinux-efi, mtools, busybox-static, and
// apt-get/dpkg-deb with a reachable Debian archive (or PODVM_KERNEL_DEB)
// for the kernel, which is cached in testenv.DefaultCacheDir(); make deps
// installs them all. Nothing is mounted and no root is needed.
package testguest

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/podvm-migrate/podvm-migrate/testenv"
	"github.com/podvm-migrate/podvm-migrate/testenv/internal/cmdrun"
	"github.com/podvm-migrate/podvm-migrate/testenv/internal/diskimg"
)

// Artefact file names written by Build, all from the same guest disk.
const (
	Raw            = "guest.raw"         // raw disk, sparse
	VMDK           = "guest.vmdk"        // monolithicSparse VMDK
	Stream         = "guest-stream.vmdk" // streamOptimized VMDK (what OVAs and NFC exports hold)
	VMX            = "guest.vmx"         // VMX naming guest.vmdk
	OVF            = "guest.ovf"         // OVF 1.0 envelope naming guest-stream.vmdk
	Manifest       = "guest.mf"          // SHA256 manifest of the OVF package
	OVA            = "guest.ova"         // tar of guest.ovf, guest.mf, guest-stream.vmdk
	Vmlinuz        = "vmlinuz"           // the kernel on the disk, for direct kernel boot
	Initrd         = "initrd.img"        // the initramfs on the disk
	defaultDiskMiB = 64
	bootPartMiB    = 32
)

// Options says how to build the test guest.
type Options struct {
	OutDir    string   // where the artefacts go; created if missing
	CacheDir  string   // where the downloaded kernel is kept between builds
	KernelDeb string   // optional local linux-image-*-cloud-amd64 .deb
	Busybox   string   // static busybox binary; default /bin/busybox
	DiskMiB   int      // guest-visible disk size; default 64
	PowerOff  bool     // make the guest power off after its readiness line
	Hardware  Hardware // described in the VMX and OVF; default DefaultHardware("bios")
	Log       func(format string, args ...any)
}

// Guest lists the artefacts of one build.
type Guest struct {
	Dir           string        `json:"dir"`
	Kernel        string        `json:"kernel"`
	Firmware      string        `json:"firmware"`
	CapacityBytes int64         `json:"capacityBytes"`
	Files         []string      `json:"files"`
	BuildTime     time.Duration `json:"buildTime"`
}

// Path returns the path of one artefact.
func (g *Guest) Path(name string) string { return filepath.Join(g.Dir, name) }

// Build builds the bootable test guest: a hybrid BIOS/UEFI disk whose
// FAT partition holds syslinux, a Debian cloud kernel and a busybox
// initramfs, and from it the raw, VMDK, VMX, OVF and OVA artefacts. Work
// happens in a temporary folder inside OutDir; finished files are renamed
// into place, so OutDir never holds a half-written artefact.
func Build(ctx context.Context, o Options) (*Guest, error) {
	start := time.Now()
	if o.OutDir == "" {
		return nil, fmt.Errorf("guest: no output folder given")
	}
	if o.Busybox == "" {
		o.Busybox = "/bin/busybox"
	}
	if o.DiskMiB == 0 {
		o.DiskMiB = defaultDiskMiB
	}
	if o.DiskMiB < bootPartMiB+2 {
		return nil, fmt.Errorf("guest: disk of %d MiB is too small: need at least %d", o.DiskMiB, bootPartMiB+2)
	}
	if o.Hardware.Name == "" {
		o.Hardware = DefaultHardware("bios")
	}
	if err := o.Hardware.Validate(); err != nil {
		return nil, err
	}
	logf := o.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if o.CacheDir == "" {
		o.CacheDir = testenv.DefaultCacheDir()
	}
	if err := os.MkdirAll(o.CacheDir, 0o755); err != nil {
		return nil, fmt.Errorf("guest: cache: %w", err)
	}
	logf("fetching the Debian cloud kernel into %s", o.CacheDir)
	k, err := FetchKernel(ctx, o.CacheDir, o.KernelDeb)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return nil, fmt.Errorf("guest: %w", err)
	}
	work, err := os.MkdirTemp(o.OutDir, ".build-")
	if err != nil {
		return nil, fmt.Errorf("guest: %w", err)
	}
	defer os.RemoveAll(work)
	w := func(name string) string { return filepath.Join(work, name) }

	logf("building the initramfs (busybox + virtio modules of %s)", k.Release)
	if err := BuildInitramfs(w(Initrd), o.Busybox, k); err != nil {
		return nil, err
	}
	if err := diskimg.CopyFile(w(Vmlinuz), k.Vmlinuz); err != nil {
		return nil, err
	}
	logf("building the boot partition and disk")
	if err := buildBootPartition(ctx, w("part.img"), bootPartMiB<<20, w(Vmlinuz), w(Initrd), defaultBootFiles(), o.PowerOff); err != nil {
		return nil, err
	}
	capacity := int64(o.DiskMiB) << 20
	if err := assembleDisk(w(Raw), capacity, w("part.img"), defaultBootFiles().MBR); err != nil {
		return nil, err
	}
	os.Remove(w("part.img"))

	logf("converting to VMDK (monolithicSparse and streamOptimized)")
	adapter := "lsilogic"
	if err := cmdrun.Run(ctx, "qemu-img", "convert", "-f", "raw", "-O", "vmdk", "-o", "adapter_type="+adapter, w(Raw), w(VMDK)); err != nil {
		return nil, fmt.Errorf("guest: %w", err)
	}
	if err := cmdrun.Run(ctx, "qemu-img", "convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=streamOptimized,adapter_type="+adapter, w(Raw), w(Stream)); err != nil {
		return nil, fmt.Errorf("guest: %w", err)
	}
	if err := os.WriteFile(w(VMX), []byte(o.Hardware.VMX(VMDK)), 0o644); err != nil {
		return nil, fmt.Errorf("guest: %w", err)
	}
	st, err := os.Stat(w(Stream))
	if err != nil {
		return nil, fmt.Errorf("guest: %w", err)
	}
	ovf, err := o.Hardware.OVF(ovfDisk{Href: Stream, FileSize: st.Size(), CapacityBytes: capacity})
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(w(OVF), []byte(ovf), 0o644); err != nil {
		return nil, fmt.Errorf("guest: %w", err)
	}
	logf("writing the OVF manifest and the OVA")
	if err := writeManifest(w(Manifest), work, OVF, Stream); err != nil {
		return nil, err
	}
	if err := writeOVA(w(OVA), work, OVF, Manifest, Stream); err != nil {
		return nil, err
	}
	files := []string{Raw, VMDK, Stream, VMX, OVF, Manifest, OVA, Vmlinuz, Initrd}
	for _, f := range files {
		if err := os.Rename(w(f), filepath.Join(o.OutDir, f)); err != nil {
			return nil, fmt.Errorf("guest: %w", err)
		}
	}
	return &Guest{Dir: o.OutDir, Kernel: k.Release, Firmware: o.Hardware.Firmware, CapacityBytes: capacity,
		Files: files, BuildTime: time.Since(start)}, nil
}

// writeManifest writes an OVF manifest: one "SHA256(name)= hex" line per file.
func writeManifest(dst, dir string, names ...string) error {
	var b strings.Builder
	for _, n := range names {
		sum, err := sha256File(filepath.Join(dir, n))
		if err != nil {
			return fmt.Errorf("manifest: %w", err)
		}
		fmt.Fprintf(&b, "SHA256(%s)= %s\n", n, sum)
	}
	if err := os.WriteFile(dst, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	return nil
}

// writeOVA writes a ustar archive of the named files in order: the OVF
// descriptor must come first.
func writeOVA(dst, dir string, names ...string) error {
	f, err := os.Create(dst)
	if err != nil {
		return fmt.Errorf("ova: %w", err)
	}
	tw := tar.NewWriter(f)
	for _, n := range names {
		if err := addTarFile(tw, filepath.Join(dir, n), n); err != nil {
			f.Close()
			return fmt.Errorf("ova: %s: %w", n, err)
		}
	}
	return closeAll(dst, tw, f)
}

func addTarFile(tw *tar.Writer, path, name string) error {
	src, err := os.Open(path)
	if err != nil {
		return err
	}
	defer src.Close()
	st, err := src.Stat()
	if err != nil {
		return err
	}
	hdr := &tar.Header{Name: name, Mode: 0o644, Size: st.Size(), ModTime: st.ModTime(), Format: tar.FormatUSTAR, Uname: "someone", Gname: "someone"}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	_, err = io.Copy(tw, src)
	return err
}

func sha256File(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
