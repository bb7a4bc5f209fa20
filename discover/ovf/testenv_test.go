package ovf

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/podvm-migrate/podvm-migrate/discover"
	"github.com/podvm-migrate/podvm-migrate/testenv/testguest"
)

// TestTestenvGuest reads the OVF and OVA that testenv builds for the
// bootable test guest, for both firmwares.
func TestTestenvGuest(t *testing.T) {
	cases := []struct {
		firmware   string
		secureBoot bool
		controller discover.ControllerType
	}{
		{"bios", false, discover.ControllerPVSCSI},
		{"efi", true, discover.ControllerLSILogic},
	}
	for _, c := range cases {
		t.Run(c.firmware, func(t *testing.T) {
			hw := testguest.DefaultHardware(c.firmware)
			hw.SecureBoot, hw.Controller = c.secureBoot, string(c.controller)
			dir := t.TempDir()
			g, err := testguest.Build(context.Background(), testguest.Options{OutDir: dir, Hardware: hw})
			if err != nil {
				t.Fatal(err)
			}
			ovfVMs, err := ReadOVF(g.Path(testguest.OVF), Options{})
			if err != nil {
				t.Fatal(err)
			}
			ovaVMs, err := ReadOVA(g.Path(testguest.OVA), Options{})
			if err != nil {
				t.Fatal(err)
			}
			for _, vms := range [][]discover.VM{ovfVMs, ovaVMs} {
				if len(vms) != 1 {
					t.Fatalf("%d VMs", len(vms))
				}
				vm := vms[0]
				h := vm.Hardware
				if vm.Name != hw.Name || vm.Guest.GuestID != "debian12_64Guest" || string(h.Firmware) != c.firmware || h.SecureBoot != c.secureBoot ||
					h.CPUs != hw.CPUs || h.CoresPerSocket != hw.CoresPerSocket || h.MemoryMiB != int64(hw.MemoryMiB) || h.Version != "vmx-20" {
					t.Errorf("%s: %+v", vm.Source.Kind, vm)
				}
				if len(h.Controllers) != 1 || h.Controllers[0].Type != c.controller {
					t.Errorf("%s: controllers %+v", vm.Source.Kind, h.Controllers)
				}
				if len(h.Disks) != 1 || h.Disks[0].CapacityBytes != g.CapacityBytes || h.Disks[0].Format != "streamOptimized" {
					t.Errorf("%s: disks %+v", vm.Source.Kind, h.Disks)
				}
				if len(h.NICs) != 1 || h.NICs[0].MAC != hw.MAC || h.NICs[0].Model != "vmxnet3" || h.NICs[0].Network != hw.Network {
					t.Errorf("%s: NICs %+v", vm.Source.Kind, h.NICs)
				}
			}
			if f := ovfVMs[0].Hardware.Disks[0].File; f != filepath.Join(dir, testguest.Stream) {
				t.Errorf("ovf disk file %q", f)
			}
			if f := ovaVMs[0].Hardware.Disks[0].File; f != testguest.Stream || ovaVMs[0].Source.Member != testguest.OVF {
				t.Errorf("ova disk member %q from %+v", f, ovaVMs[0].Source)
			}
		})
	}
}
