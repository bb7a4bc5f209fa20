package debian

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
)

// debianRecipeVersion changes whenever the build steps change in a way the
// files below do not show; it is part of the cache key.
const debianRecipeVersion = "3"

// Suite is the release the Debian test guest is built from.
const Suite = "bookworm"

// debianPackages are installed on top of debootstrap's minbase: what a
// small VMware-installed Debian 12 server has. The cloud kernel builds
// virtio (and vmw_pvscsi, vmxnet3) as modules, so the initramfs decides
// which disks the guest can boot from.
var debianPackages = []string{
	"systemd-sysv", "udev", "kmod", "e2fsprogs",
	"linux-image-cloud-amd64", "initramfs-tools",
	"grub-pc-bin", "grub2-common",
	"open-vm-tools",
}

// debianInitramfsModules is /etc/initramfs-tools/modules with MODULES=list:
// the storage, network and file system drivers of the VMware hardware, and
// deliberately no virtio. This is the initramfs an installer running on
// VMware leaves behind with MODULES=dep.
const debianInitramfsModules = `# VMware paravirtual SCSI and NIC, SCSI disks, the root file system.
vmw_pvscsi
sd_mod
vmxnet3
ext4
`

// debianGrubDefaults is /etc/default/grub, so that a grub-mkconfig run (as
// virt-v2v does) keeps the serial console.
const debianGrubDefaults = `GRUB_DEFAULT=0
GRUB_TIMEOUT=0
GRUB_DISTRIBUTOR=Debian
GRUB_CMDLINE_LINUX_DEFAULT=""
GRUB_CMDLINE_LINUX="console=tty0 console=ttyS0,115200n8"
GRUB_TERMINAL="console serial"
GRUB_SERIAL_COMMAND="serial --speed=115200"
GRUB_DISABLE_OS_PROBER=true
`

// debianGrubConfig is /boot/grub/grub.cfg as grub-mkconfig would write it
// for one kernel: %[1]s is the kernel release, %[2]s the root UUID.
const debianGrubConfig = `# written by podvm-testenv; grub-mkconfig may replace it
serial --speed=115200
terminal_input console serial
terminal_output console serial
set default=0
set timeout=0
insmod part_msdos
insmod ext2
search --no-floppy --fs-uuid --set=root %[2]s
menuentry 'Debian GNU/Linux' --class debian --class gnu-linux --class os {
	insmod part_msdos
	insmod ext2
	search --no-floppy --fs-uuid --set=root %[2]s
	echo 'Loading Linux %[1]s ...'
	linux /boot/vmlinuz-%[1]s root=UUID=%[2]s ro console=tty0 console=ttyS0,115200n8
	echo 'Loading initial ramdisk ...'
	initrd /boot/initrd.img-%[1]s
}
`

// debianReadyScript prints the readiness line on the first serial port.
const debianReadyScript = `#!/bin/sh
# Prints the podvm-migrate readiness line on the first serial port.
up=$(cut -d' ' -f1 /proc/uptime)
tools=absent
[ -x /usr/bin/vmtoolsd ] && tools=present
echo "PODVM-READY uptime=${up} distro=debian12 kernel=$(uname -r) root=$(findmnt -no SOURCE /) open-vm-tools=${tools}" > /dev/ttyS0
`

// debianReadyUnit runs the script once multi-user.target is reached.
// DefaultDependencies=no keeps the target from ordering itself after the
// unit it wants, so After=multi-user.target holds.
const debianReadyUnit = `[Unit]
Description=podvm-migrate readiness line on ttyS0
DefaultDependencies=no
After=multi-user.target
Conflicts=shutdown.target
Before=shutdown.target

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/podvm-ready
RemainAfterExit=yes

[Install]
WantedBy=multi-user.target
`

// debianFiles are written into the root before the initramfs is rebuilt:
// fstab names the root UUID, and net adds its network configuration.
func debianFiles(rootUUID string, net Net) map[string]string {
	return net.files(map[string]string{
		"etc/hostname":                "debian-vm\n",
		"etc/hosts":                   "127.0.0.1\tlocalhost\n127.0.1.1\tdebian-vm\n",
		"etc/fstab":                   fmt.Sprintf("# <file system> <mount point> <type> <options> <dump> <pass>\nUUID=%s / ext4 errors=remount-ro 0 1\n", rootUUID),
		"etc/initramfs-tools/modules": debianInitramfsModules,
		"etc/initramfs-tools/conf.d/podvm-modules.conf": "MODULES=list\n",
		"etc/default/grub":                       debianGrubDefaults,
		"usr/local/sbin/podvm-ready":             debianReadyScript,
		"etc/systemd/system/podvm-ready.service": debianReadyUnit,
	})
}

// debianRecipeKey hashes everything that decides the image's contents. The
// default network adds nothing, so its key is the one it always had.
func debianRecipeKey(diskMiB int, net Net) string {
	h := sha256.New()
	fmt.Fprintf(h, "version=%s\nsuite=%s\ndisk=%d\npackages=%s\n", debianRecipeVersion, Suite, diskMiB, strings.Join(net.packages(), ","))
	if net.Mode != NetDefault {
		fmt.Fprintf(h, "net=%s\n", net)
	}
	files := debianFiles("UUID", net)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(h, "file %s\n%s\n", n, files[n])
	}
	fmt.Fprintf(h, "grub.cfg\n%s\n", debianGrubConfig)
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// uuidFrom formats 16 bytes of a hash as a version-4 style UUID, so the
// same recipe always yields the same file system UUID.
func uuidFrom(key string) string {
	s := sha256.Sum256([]byte("podvm-debian-root:" + key))
	b := s[:16]
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	x := hex.EncodeToString(b)
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}
