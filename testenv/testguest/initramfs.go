package testguest

import (
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// ReadyPrefix starts the line the test guest prints on its first serial port
// once it is up, followed by "uptime=SECONDS ip=ADDRESS|none".
const ReadyPrefix = "PODVM-READY"

// PowerOffArg on the kernel command line makes the guest power off right
// after it has printed its readiness line.
const PowerOffArg = "podvm.poweroff"

// virtioModules are loaded in this order: the cloud kernel builds virtio as
// modules, and a virtio NIC or console needs all of them.
var virtioModules = []string{
	"drivers/virtio/virtio_ring",
	"drivers/virtio/virtio",
	"drivers/virtio/virtio_pci_modern_dev",
	"drivers/virtio/virtio_pci_legacy_dev",
	"drivers/virtio/virtio_pci",
	"drivers/virtio/virtio_mmio",
	"net/core/failover",
	"drivers/net/net_failover",
	"drivers/net/virtio_net",
	"drivers/char/virtio_console",
}

// initScript is the guest's PID 1: mount the kernel file systems, load the
// virtio modules, take a DHCP lease if there is a NIC (or go on trying in
// the background), announce readiness.
const initScript = `#!/bin/busybox sh
export PATH=/bin
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in %s; do insmod /lib/modules/$m.ko 2>/dev/null; done
ip=none
if [ -e /sys/class/net/eth0 ]; then
  ip link set lo up
  ip link set eth0 up
  # Ten tries a second apart before readiness: a bridge with STP on (libvirt's
  # default network, as Debian ships it) forwards nothing from a new port for
  # its first 4 s (listening, learning). Without a lease by then it keeps
  # trying in the background, so the lease still comes, after the ready line.
  udhcpc -s /etc/udhcpc.script -i eth0 -q -b -t 10 -T 1 >/dev/null 2>&1
  addr=$(ip -4 addr show eth0 | sed -n 's/.*inet \([0-9.]*\).*/\1/p')
  [ -n "$addr" ] && ip=$addr
fi
echo "` + ReadyPrefix + ` uptime=$(cut -d' ' -f1 /proc/uptime) ip=$ip kernel=$(uname -r)" > /dev/ttyS0
if grep -q ` + PowerOffArg + ` /proc/cmdline; then poweroff -f; fi
while :; do sleep 3600; done
`

// udhcpcScript applies a lease: Debian's busybox looks elsewhere by default.
const udhcpcScript = `#!/bin/sh
case "$1" in
bound|renew)
  ip addr flush dev "$interface"
  ip addr add "$ip/${mask:-24}" dev "$interface"
  [ -n "$router" ] && ip route add default via "${router%% *}" dev "$interface"
  ;;
esac
exit 0
`

// BuildInitramfs writes a gzip-compressed newc initramfs holding a static
// busybox, the virtio modules of kernel k and the readiness /init.
func BuildInitramfs(dst, busybox string, k *Kernel) error {
	bb, err := os.ReadFile(busybox)
	if err != nil {
		return fmt.Errorf("initramfs: read busybox: %w (install busybox-static)", err)
	}
	entries := []cpioEntry{
		{Name: "bin", Mode: modeDir | 0o755},
		{Name: "bin/busybox", Mode: modeFile | 0o755, Data: bb},
		{Name: "bin/sh", Mode: modeSymlink | 0o777, Data: []byte("busybox")},
		{Name: "dev", Mode: modeDir | 0o755},
		{Name: "dev/console", Mode: modeCharDev | 0o600, Major: 5, Minor: 1},
		{Name: "etc", Mode: modeDir | 0o755},
		{Name: "etc/udhcpc.script", Mode: modeFile | 0o755, Data: []byte(udhcpcScript)},
		{Name: "lib", Mode: modeDir | 0o755},
		{Name: "lib/modules", Mode: modeDir | 0o755},
		{Name: "proc", Mode: modeDir | 0o755},
		{Name: "run", Mode: modeDir | 0o755},
		{Name: "sys", Mode: modeDir | 0o755},
		{Name: "tmp", Mode: modeDir | 0o1777},
	}
	var names string
	for _, m := range virtioModules {
		data, err := os.ReadFile(filepath.Join(k.Modules, "kernel", m+".ko"))
		if err != nil {
			return fmt.Errorf("initramfs: kernel %s: %w", k.Release, err)
		}
		base := filepath.Base(m)
		entries = append(entries, cpioEntry{Name: "lib/modules/" + base + ".ko", Mode: modeFile | 0o644, Data: data})
		names += " " + base
	}
	entries = append(entries, cpioEntry{Name: "init", Mode: modeFile | 0o755, Data: []byte(fmt.Sprintf(initScript, names[1:]))})

	f, err := os.Create(dst)
	if err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	zw, _ := gzip.NewWriterLevel(f, gzip.BestSpeed)
	if err := writeCPIO(zw, entries); err != nil {
		f.Close()
		return err
	}
	return closeAll(dst, zw, f)
}

func closeAll(name string, cs ...io.Closer) error {
	for _, c := range cs {
		if err := c.Close(); err != nil {
			return fmt.Errorf("close %s: %w", name, err)
		}
	}
	return nil
}
