package guest

import (
	"reflect"
	"strings"
	"testing"
)

// sampleLog has the shape of virt-v2v-in-place's -v -x log: progress lines
// on stdout, libguestfs traces and warnings in between.
const sampleLog = `[   0.0] Setting up the source: -i disk /tmp/d.qcow2
libguestfs: trace: v2v: inspect_os
[    0.000000] Linux version 6.1.0-56-cloud-amd64
libguestfs: trace: v2v: inspect_os = ["/dev/sda1"]
[  21.5] Inspecting the source
libguestfs: trace: v2v: inspect_get_type = "linux"
libguestfs: trace: v2v: inspect_get_distro = "debian"
libguestfs: trace: v2v: inspect_get_product_name = "12.15"
libguestfs: trace: v2v: inspect_get_osinfo = "debian12"
libguestfs: trace: v2v: inspect_get_package_management = "apt"
libguestfs: trace: v2v: inspect_get_major_version = 12
libguestfs: trace: v2v: command_lines "dpkg -L linux-image-cloud-amd64"
libguestfs: trace: v2v: command "/usr/bin/perl -MBootloader::Tools -e1"
[  40.2] Converting 12.15 to run on KVM
libguestfs: trace: v2v: command "dpkg --purge open-vm-tools"
libguestfs: trace: v2v: write "/usr/lib/virt-sysprep/scripts/5000-0003-install-qga" "\x0a apt-get $apt_opts install 'qemu-guest-agent'\x0a    "
libguestfs: trace: v2v: aug_clear "/files/etc/initramfs-tools/modules/virtio"
libguestfs: trace: v2v: aug_clear "/files/etc/initramfs-tools/modules/virtio_blk"
libguestfs: trace: v2v: command "/usr/sbin/update-initramfs -v -c -k 6.1.0-50-cloud-amd64"
virt-v2v-in-place: warning: The QEMU Guest Agent will be installed for this
guest at first boot.
virt-v2v-in-place: warning: could not determine a way to update the
configuration of Grub2
guestfsd: => command (0x32) took 1.42 secs
[ 190.7] Finishing off
`

func TestParseLog(t *testing.T) {
	var r Result
	parseLog([]byte(sampleLog), &r)
	want := Result{
		Inspection:       Inspection{Root: "/dev/sda1", Type: "linux", Distro: "debian", ProductName: "12.15", OSInfo: "debian12", PackageManager: "apt"},
		Steps:            []string{"Setting up the source: -i disk /tmp/d.qcow2", "Inspecting the source", "Converting 12.15 to run on KVM", "Finishing off"},
		Removed:          []string{"open-vm-tools"},
		FirstBoot:        []string{"install qemu-guest-agent"},
		Warnings:         []string{"The QEMU Guest Agent will be installed for this guest at first boot.", "could not determine a way to update the configuration of Grub2"},
		InitramfsModules: []string{"virtio", "virtio_blk"},
		Commands:         []string{"dpkg --purge open-vm-tools", "/usr/sbin/update-initramfs -v -c -k 6.1.0-50-cloud-amd64"},
	}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("parseLog:\n got %+v\nwant %+v", r, want)
	}
}

func TestProgressWriter(t *testing.T) {
	var got []string
	p := progressWriter{fn: func(s string) { got = append(got, s) }}
	for _, chunk := range []string{"[   0.0] Setting up", " the source\n[    0.123456] kernel\nlibguestfs: x\n[  1.5] Ins", "pecting\n[ 2.0] Finishing off"} {
		p.Write([]byte(chunk))
	}
	p.flush()
	if want := []string{"Setting up the source", "Inspecting", "Finishing off"}; !reflect.DeepEqual(got, want) {
		t.Errorf("progress lines %q, want %q", got, want)
	}
}

func TestEnviron(t *testing.T) {
	for _, tc := range []struct {
		accel, cache string
		want, not    []string
	}{
		{"tcg", "/c", []string{"LIBGUESTFS_BACKEND=direct", "LIBGUESTFS_BACKEND_SETTINGS=force_tcg", "LIBGUESTFS_CACHEDIR=/c"}, []string{"LIBGUESTFS_BACKEND=libvirt"}},
		{"kvm", "", []string{"LIBGUESTFS_BACKEND=direct", "LIBGUESTFS_CACHEDIR=/old"}, []string{"LIBGUESTFS_BACKEND_SETTINGS=force_tcg"}},
	} {
		env := strings.Join(Environ([]string{"PATH=/bin", "LIBGUESTFS_BACKEND=libvirt", "LIBGUESTFS_CACHEDIR=/old"}, tc.accel, tc.cache), "\n") + "\n"
		for _, w := range tc.want {
			if !strings.Contains(env, w+"\n") {
				t.Errorf("accel %s: env lacks %s:\n%s", tc.accel, w, env)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(env, n+"\n") {
				t.Errorf("accel %s: env has %s", tc.accel, n)
			}
		}
	}
}
