package qemu

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/podvm-migrate/podvm-migrate/internal/testtool"
	"github.com/podvm-migrate/podvm-migrate/testenv"
	"github.com/podvm-migrate/podvm-migrate/testenv/testguest"
)

func TestBootGuest(t *testing.T) {
	g := testguest.BuildForTest(t, testguest.Options{})
	ctx := context.Background()
	probe, err := ResolveAccel(ctx, "auto", testenv.DefaultCacheDir(), g.Path(testguest.Vmlinuz), g.Path(testguest.Initrd))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("accelerator: %s (%s)", probe.Accel, probe.Reason)
	cases := []struct {
		name, disk, firmware, bus string
		nic                       bool
	}{
		{"raw-bios-virtio", testguest.Raw, "bios", "virtio", true},
		{"vmdk-bios-virtio", testguest.VMDK, "bios", "virtio", false},
		{"vmdk-bios-sata", testguest.VMDK, "bios", "sata", false},
		{"stream-bios-scsi", testguest.Stream, "bios", "scsi", false},
		{"raw-efi-virtio", testguest.Raw, "efi", "virtio", false},
		{"vmdk-efi-virtio", testguest.VMDK, "efi", "virtio", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var serial strings.Builder
			res, err := Boot(ctx, BootOptions{Disk: g.Path(c.disk), Firmware: c.firmware, Bus: c.bus, Accel: probe.Accel, NIC: c.nic, Serial: &serial})
			if err != nil {
				t.Fatalf("%v\nserial console:\n%s", err, serial.String())
			}
			if !strings.HasPrefix(res.ReadyLine, testguest.ReadyPrefix+" uptime=") {
				t.Errorf("ready line %q", res.ReadyLine)
			}
			if c.nic && !strings.Contains(res.ReadyLine, "ip=10.0.2.15") {
				t.Errorf("guest with a NIC did not get a DHCP lease from QEMU: %q", res.ReadyLine)
			}
			if !c.nic && !strings.Contains(res.ReadyLine, "ip=none") {
				t.Errorf("guest without a NIC reports an address: %q", res.ReadyLine)
			}
			t.Logf("%s ready after %s: %s", c.name, res.ReadyAfter.Round(time.Millisecond), res.ReadyLine)
		})
	}
}

func TestGuestPowersItselfOff(t *testing.T) {
	testtool.Require(t, "qemu-img", "qemu-system-x86_64", "mkfs.vfat", "syslinux", "mcopy", "dpkg-deb")
	dir := t.TempDir()
	g, err := testguest.Build(context.Background(), testguest.Options{OutDir: dir, PowerOff: true, Hardware: testguest.DefaultHardware("efi")})
	if err != nil {
		t.Fatal(err)
	}
	if vmx, _ := os.ReadFile(g.Path(testguest.VMX)); !strings.Contains(string(vmx), `firmware = "efi"`) {
		t.Errorf("efi build's VMX does not say firmware efi")
	}
	probe, err := ResolveAccel(context.Background(), "auto", testenv.DefaultCacheDir(), g.Path(testguest.Vmlinuz), g.Path(testguest.Initrd))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Boot(context.Background(), BootOptions{Disk: g.Path(testguest.VMDK), Firmware: "efi", Accel: probe.Accel, WaitPowerOff: true})
	if err != nil {
		t.Fatal(err)
	}
	if !res.PoweredOff {
		t.Errorf("guest built with PowerOff did not power off")
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, ".build-*"))
	if len(leftovers) != 0 {
		t.Errorf("build left work folders: %v", leftovers)
	}
}

func TestResolveAccelRejectsUnknown(t *testing.T) {
	for _, want := range []string{"kvm", "tcg"} {
		p, err := ResolveAccel(context.Background(), want, t.TempDir(), "", "")
		if err != nil || p.Accel != want {
			t.Errorf("ResolveAccel(%s) = %+v, %v", want, p, err)
		}
	}
	if _, err := ResolveAccel(context.Background(), "hvf", t.TempDir(), "", ""); err == nil {
		t.Error("ResolveAccel(hvf) succeeded")
	}
}

func TestBootForTest(t *testing.T) {
	g := testguest.BuildForTest(t, testguest.Options{})
	kernel, initrd := g.Path(testguest.Vmlinuz), g.Path(testguest.Initrd)
	res := BootForTest(t, BootOptions{Kernel: kernel, Initrd: initrd, Append: "console=ttyS0 quiet panic=-1", Accel: AccelForTest(t, kernel, initrd)})
	if !strings.HasPrefix(res.ReadyLine, testguest.ReadyPrefix) {
		t.Errorf("ready line %q", res.ReadyLine)
	}
}
