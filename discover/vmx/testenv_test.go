package vmx

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/podvm-migrate/podvm-migrate/discover"
	"github.com/podvm-migrate/podvm-migrate/testenv/testguest"
)

// TestTestenvGuest reads the VMX that testenv writes for the bootable
// test guest, with its real monolithicSparse VMDK, for both firmwares.
func TestTestenvGuest(t *testing.T) {
	cases := []struct {
		firmware   string
		secureBoot bool
		controller string
	}{
		{"bios", false, "pvscsi"},
		{"efi", true, "lsilogic"},
	}
	for _, c := range cases {
		t.Run(c.firmware, func(t *testing.T) {
			hw := testguest.DefaultHardware(c.firmware)
			hw.SecureBoot, hw.Controller = c.secureBoot, c.controller
			dir := t.TempDir()
			g, err := testguest.Build(context.Background(), testguest.Options{OutDir: dir, Hardware: hw})
			if err != nil {
				t.Fatal(err)
			}
			vm, err := ReadFile(g.Path(testguest.VMX), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if vm.Name != hw.Name || vm.Guest.GuestID != "debian12_64Guest" || string(vm.Hardware.Firmware) != c.firmware || vm.Hardware.SecureBoot != c.secureBoot {
				t.Errorf("vm %+v", vm)
			}
			if vm.Hardware.CPUs != hw.CPUs || vm.Hardware.CoresPerSocket != hw.CoresPerSocket || vm.Hardware.MemoryMiB != int64(hw.MemoryMiB) {
				t.Errorf("hardware %+v", vm.Hardware)
			}
			if len(vm.Hardware.Controllers) != 1 || string(vm.Hardware.Controllers[0].Type) != c.controller {
				t.Errorf("controllers %+v", vm.Hardware.Controllers)
			}
			if len(vm.Hardware.Disks) != 1 {
				t.Fatalf("disks %+v", vm.Hardware.Disks)
			}
			d := vm.Hardware.Disks[0]
			if d.CapacityBytes != g.CapacityBytes || d.Format != "monolithicSparse" || d.File != filepath.Join(dir, testguest.VMDK) || d.Provisioning != discover.ProvisionThin {
				t.Errorf("disk %+v", d)
			}
			if len(vm.Hardware.NICs) != 1 || vm.Hardware.NICs[0].MAC != hw.MAC || vm.Hardware.NICs[0].Model != "vmxnet3" || vm.Hardware.NICs[0].Network != hw.Network {
				t.Errorf("NICs %+v", vm.Hardware.NICs)
			}
			if vm.Identity.BIOSUUID == "" || vm.Identity.InstanceUUID == "" {
				t.Errorf("identity %+v", vm.Identity)
			}
		})
	}
}
