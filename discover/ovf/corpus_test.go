package ovf

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podvm-migrate/podvm-migrate/discover"
)

func warnedOVF(vm discover.VM, parts ...string) bool {
	for _, w := range vm.Warnings {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(w, p)
		}
		if ok {
			return true
		}
	}
	return false
}

func byName(t *testing.T, vms []discover.VM) map[string]discover.VM {
	t.Helper()
	out := map[string]discover.VM{}
	for _, vm := range vms {
		out[vm.Name] = vm
	}
	return out
}

// TestCorpus reads one product-like file per class under testdata.
func TestCorpus(t *testing.T) {
	cases := []struct {
		file  string
		opts  Options
		check func(t *testing.T, vms map[string]discover.VM)
	}{
		{"blank/blank.ovf", Options{}, func(t *testing.T, vms map[string]discover.VM) {
			vm := vms["blank-data"]
			if len(vm.Hardware.Disks) != 2 {
				t.Fatalf("disks %+v", vm.Hardware.Disks)
			}
			sys, data := vm.Hardware.Disks[0], vm.Hardware.Disks[1]
			if sys.Blank || sys.CapacityBytes != 8<<30 || filepath.Base(sys.File) != "blank-disk1.vmdk" {
				t.Errorf("system disk %+v", sys)
			}
			if !data.Blank || data.File != "" || data.CapacityBytes != 100<<30 || data.CapacityUnknown || data.Unit != 1 {
				t.Errorf("blank disk %+v", data)
			}
			if len(vm.Warnings) != 0 || vm.Hardware.Firmware != discover.FirmwareBIOS {
				t.Errorf("warnings %q firmware %s", vm.Warnings, vm.Hardware.Firmware)
			}
		}},
		{"deployment/appliance.ovf", Options{}, func(t *testing.T, vms map[string]discover.VM) {
			hw := vms["vendorx-appliance"].Hardware
			if hw.CPUs != 2 || hw.MemoryMiB != 4096 || len(hw.Disks) != 1 || len(hw.NICs) != 1 || hw.Firmware != discover.FirmwareEFI {
				t.Errorf("default (small) configuration: %+v", hw)
			}
		}},
		{"deployment/appliance.ovf", Options{Config: "large"}, func(t *testing.T, vms map[string]discover.VM) {
			hw := vms["vendorx-appliance"].Hardware
			if hw.CPUs != 8 || hw.MemoryMiB != 32<<10 || len(hw.Disks) != 2 || !hw.Disks[1].Blank || len(hw.NICs) != 2 {
				t.Errorf("large configuration: %+v", hw)
			}
		}},
		{"deployment/appliance.ovf", Options{Config: "huge"}, func(t *testing.T, vms map[string]discover.VM) {
			vm := vms["vendorx-appliance"]
			if vm.Hardware.CPUs != 2 || !warnedOVF(vm, `deployment option "huge" not offered`, "small, large", `"small"`) {
				t.Errorf("unknown option: CPUs %d, warnings %q", vm.Hardware.CPUs, vm.Warnings)
			}
		}},
		{"chunked/chunky.ovf", Options{}, func(t *testing.T, vms map[string]discover.VM) {
			d := vms["chunky"].Hardware.Disks[0]
			if len(d.Chunks) != 3 || filepath.Base(d.Chunks[2]) != "big-disk1.vmdk.000000002" || filepath.Base(d.File) != "big-disk1.vmdk" ||
				d.CapacityBytes != 16<<30 || warnedOVF(vms["chunky"], "big-disk1") {
				t.Errorf("chunked %+v warnings %q", d, vms["chunky"].Warnings)
			}
			if vms["chunky"].Guest.GuestID != "ubuntu64Guest" {
				t.Errorf("guest %q", vms["chunky"].Guest.GuestID)
			}
		}},
		{"chunked-ova/chunky.ova", Options{}, func(t *testing.T, vms map[string]discover.VM) {
			d := vms["chunky"].Hardware.Disks[0]
			if strings.Join(d.Chunks, ",") != "big-disk1.vmdk.000000000,big-disk1.vmdk.000000001,big-disk1.vmdk.000000002" || d.File != "big-disk1.vmdk" {
				t.Errorf("chunked member %+v", d)
			}
		}},
		{"ostype/numeric.ovf", Options{}, func(t *testing.T, vms map[string]discover.VM) {
			want := map[string]string{"rhel-32": "rhel6Guest", "win2016": "windows9Server64Guest", "ubuntu-32": "ubuntuGuest", "mystery-64": "otherGuest64"}
			for name, id := range want {
				if got := vms[name].Guest.GuestID; got != id {
					t.Errorf("%s: guest %q, want %q", name, got, id)
				}
			}
			if vms["win2016"].Guest.Family != "windowsGuest" || vms["rhel-32"].Guest.Family != "linuxGuest" {
				t.Errorf("families %q %q", vms["win2016"].Guest.Family, vms["rhel-32"].Guest.Family)
			}
			if !warnedOVF(vms["mystery-64"], `ovf:id "999"`, "not a known CIM operating system") || warnedOVF(vms["rhel-32"], "CIM") {
				t.Errorf("warnings %q / %q", vms["mystery-64"].Warnings, vms["rhel-32"].Warnings)
			}
		}},
		{"firmware/others.ovf", Options{}, func(t *testing.T, vms map[string]discover.VM) {
			if hw := vms["uefi-box"].Hardware; hw.Firmware != discover.FirmwareEFI || hw.SecureBoot {
				t.Errorf("VirtualBox-like section: %s %v", hw.Firmware, hw.SecureBoot)
			}
			if hw := vms["ovirt-sb"].Hardware; hw.Firmware != discover.FirmwareEFI || !hw.SecureBoot {
				t.Errorf("BiosType 4: %s %v", hw.Firmware, hw.SecureBoot)
			}
			if vm := vms["unstated"]; vm.Hardware.Firmware != discover.FirmwareBIOS || !warnedOVF(vm, "no section states the firmware") {
				t.Errorf("unstated: %s %q", vm.Hardware.Firmware, vm.Warnings)
			}
			if warnedOVF(vms["uefi-box"], "firmware") {
				t.Errorf("warnings %q", vms["uefi-box"].Warnings)
			}
		}},
		{"ports/ports.ovf", Options{}, func(t *testing.T, vms map[string]discover.VM) {
			got := map[discover.DeviceKind]discover.Device{}
			for _, d := range vms["ports"].State.Devices {
				got[d.Kind] = d
			}
			if s := got[discover.DeviceSerial]; s.Backing != discover.BackingNetwork || s.Detail != "telnet://console.invalid:7002" {
				t.Errorf("serial %+v", s)
			}
			if _, ok := got[discover.DeviceFloppy]; !ok {
				t.Errorf("no floppy in %+v", vms["ports"].State.Devices)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.file+"/"+c.opts.Config, func(t *testing.T) {
			p := filepath.Join("testdata", c.file)
			read := ReadOVF
			if strings.HasSuffix(p, ".ova") {
				read = ReadOVA
			}
			vms, err := read(p, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			c.check(t, byName(t, vms))
		})
	}
}

// TestCorpusWhole: the corpus folder gives every VM, and the one file that
// is not an envelope is named without stopping the others.
func TestCorpusWhole(t *testing.T) {
	vms, err := (&Source{Paths: []string{"testdata"}}).Discover(context.Background(), discover.Options{})
	u, ok := discover.AsUnreadable(err)
	if !ok || len(u.Files) != 1 || !strings.Contains(err.Error(), "broken.ovf") {
		t.Fatalf("error %v", err)
	}
	if len(vms) != 1+1+1+1+4+3+1 {
		t.Errorf("%d VMs", len(vms))
	}
}
