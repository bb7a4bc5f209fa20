package vmx

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podvm-migrate/podvm-migrate/discover"
)

// estate is the corpus: one folder per class of real-world file, written
// by us in the shape products write them.
const estate = "testdata/estate"

func readCorpus(t *testing.T, rel string, o Options) discover.VM {
	t.Helper()
	vm, err := ReadFile(filepath.Join(estate, rel), o)
	if err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	return vm
}

func diskByLabel(t *testing.T, vm discover.VM, label string) discover.Disk {
	t.Helper()
	for _, d := range vm.Hardware.Disks {
		if d.Label == label {
			return d
		}
	}
	t.Fatalf("%s: no disk %s in %+v", vm.Name, label, vm.Hardware.Disks)
	return discover.Disk{}
}

func warned(vm discover.VM, parts ...string) bool {
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

func TestCorpus(t *testing.T) {
	cases := []struct {
		file  string
		check func(t *testing.T, vm discover.VM)
	}{
		{"crlf/crlf-app01.vmx", func(t *testing.T, vm discover.VM) {
			d := diskByLabel(t, vm, "scsi0:0")
			if vm.Name != "crlf-app01" || vm.Guest.GuestID != "rhel9_64Guest" || vm.Hardware.Firmware != discover.FirmwareEFI || !vm.Hardware.SecureBoot ||
				d.CapacityBytes != 1<<30 || d.CapacityUnknown || len(vm.Warnings) != 0 {
				t.Errorf("%+v", vm)
			}
		}},
		{"windows-949/web-ko.vmx", func(t *testing.T, vm discover.VM) {
			d := diskByLabel(t, vm, "sata0:0")
			if vm.Name != "웹서버-01" || vm.Hardware.NICs[0].Network != "업무망" || d.CapacityBytes != 2<<30 || len(vm.Warnings) != 0 {
				t.Errorf("%+v warnings %q", vm, vm.Warnings)
			}
		}},
		{"shift-jis/jp.vmx", func(t *testing.T, vm discover.VM) {
			if vm.Name != "検証サーバ" || len(vm.Warnings) != 0 {
				t.Errorf("%q %q", vm.Name, vm.Warnings)
			}
		}},
		{"big5/tw.vmx", func(t *testing.T, vm discover.VM) {
			if vm.Name != "資料庫" || len(vm.Warnings) != 0 {
				t.Errorf("%q %q", vm.Name, vm.Warnings)
			}
		}},
		{"missing-disk/half.vmx", func(t *testing.T, vm discover.VM) {
			there, gone := diskByLabel(t, vm, "scsi0:0"), diskByLabel(t, vm, "scsi0:1")
			if there.CapacityBytes != 512<<20 || !gone.CapacityUnknown || gone.CapacityBytes != 0 || gone.Controller != "scsi0" || gone.Unit != 1 ||
				gone.Mode != discover.DiskPersistent || !strings.HasSuffix(gone.File, "half_1.vmdk") {
				t.Errorf("disks %+v", vm.Hardware.Disks)
			}
			if !warned(vm, "scsi0:1", "half_1.vmdk", "not found", "capacity unknown") {
				t.Errorf("warnings %q", vm.Warnings)
			}
		}},
		{"esxi/esx-db.vmx", func(t *testing.T, vm discover.VM) {
			local, named, byUUID := diskByLabel(t, vm, "scsi0:0"), diskByLabel(t, vm, "scsi0:1"), diskByLabel(t, vm, "scsi0:2")
			if named.File != "[datastore2] esx-db/esx-db_1.vmdk" || named.Datastore != "datastore2" || !named.CapacityUnknown ||
				named.SourcePath != "/vmfs/volumes/datastore2/esx-db/esx-db_1.vmdk" {
				t.Errorf("ESXi path %+v", named)
			}
			if byUUID.Datastore != "5f3c1a2b-8d9e0f11-2233-001122334455" || byUUID.File != "[5f3c1a2b-8d9e0f11-2233-001122334455] esx-db/esx-db_2.vmdk" {
				t.Errorf("ESXi UUID path %+v", byUUID)
			}
			if local.CapacityBytes != 4<<30 || len(local.Chain) != 1 || local.Chain[0] != "[datastore2] esx-db/esx-db-base.vmdk" {
				t.Errorf("delta %+v", local)
			}
			if !warned(vm, "scsi0:1", "datastore datastore2", "--datastore-dir datastore2=DIR") || !warned(vm, "scsi0:0", "parent of") {
				t.Errorf("warnings %q", vm.Warnings)
			}
		}},
		{"host-path/ws.vmx", func(t *testing.T, vm discover.VM) {
			copied, away := diskByLabel(t, vm, "nvme0:0"), diskByLabel(t, vm, "nvme0:1")
			if vm.Name != "ws-café" || copied.CapacityBytes != 1<<30 || filepath.Base(copied.File) != "ws-0.vmdk" ||
				!strings.HasPrefix(copied.SourcePath, `C:\Users`) {
				t.Errorf("copy next to the .vmx %+v", copied)
			}
			if away.File != "" || !away.CapacityUnknown || away.SourcePath != "/home/someone/vmware/shared/scratch.vmdk" {
				t.Errorf("host path %+v", away)
			}
			if !warned(vm, "nvme0:0", "not opened", "ws-0.vmdk") || !warned(vm, "nvme0:1", "outside the VM's folder", "not opened") {
				t.Errorf("warnings %q", vm.Warnings)
			}
		}},
		{"raw/raw.vmx", func(t *testing.T, vm discover.VM) {
			root, whole, parts := diskByLabel(t, vm, "sata0:0"), diskByLabel(t, vm, "sata0:1"), diskByLabel(t, vm, "sata0:2")
			if root.Raw != nil || whole.Raw == nil || whole.Raw.Kind != "fullDevice" || whole.Raw.Device != "/dev/sdb" ||
				parts.Raw == nil || parts.Raw.Kind != "partitionedDevice" || parts.CapacityBytes != 409600*512 {
				t.Errorf("disks %+v %+v %+v", root, whole, parts)
			}
		}},
		{"devices/devices.vmx", func(t *testing.T, vm discover.VM) {
			if vm.Guest.GuestID != "windows2019srvNext_64Guest" {
				t.Errorf("guest id %q", vm.Guest.GuestID)
			}
			var models []string
			for _, n := range vm.Hardware.NICs {
				models = append(models, n.Model)
			}
			if strings.Join(models, ",") != "vmxnet,vmxnet2,vmxnet3" {
				t.Errorf("NIC models %v", models)
			}
			got := map[string]string{}
			for _, d := range vm.State.Devices {
				got[d.Label] = string(d.Kind) + " " + d.Backing + " " + d.Detail
			}
			want := map[string]string{
				"floppy0": "floppy file drivers.flp", "floppy1": "floppy device /dev/fd0",
				"scsi0:3": "scsiPassthrough device /vmfs/devices/genscsi/naa.5000000000000001",
				"serial0": "serial file console.log", "serial1": `serial pipe \\.\pipe\com_2`,
				"serial2": "serial network telnet://concentrator.invalid:7001", "serial3": "serial device /dev/ttyS1",
			}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%s: %q, want %q", k, got[k], v)
				}
			}
			if _, ok := got["floppy2"]; ok || len(vm.Hardware.Disks) != 1 {
				t.Errorf("devices %+v disks %+v", vm.State.Devices, vm.Hardware.Disks)
			}
		}},
		{"unknown-encoding/odd.vmx", func(t *testing.T, vm discover.VM) {
			if vm.Name != "café-odd" || !warned(vm, "x-mac-klingon", "unknown character set", "Latin-1") {
				t.Errorf("%q %q", vm.Name, vm.Warnings)
			}
		}},
		{"memsize/bad-memsize.vmx", func(t *testing.T, vm discover.VM) {
			if vm.Name != "café-mem" || vm.Hardware.MemoryMiB != 32 || !vm.Hardware.MemoryUnknown ||
				!warned(vm, "bad-memsize.vmx:7: memsize = \"abc\"", "not a positive whole number of MiB", "planned as 32 MiB") {
				t.Errorf("%+v %q", vm.Hardware, vm.Warnings)
			}
		}},
		{"memsize/no-memsize.vmx", func(t *testing.T, vm discover.VM) {
			if vm.Hardware.MemoryMiB != 32 || !vm.Hardware.MemoryUnknown || !warned(vm, "no-memsize.vmx: no memsize key", "memory size unknown") {
				t.Errorf("%+v %q", vm.Hardware, vm.Warnings)
			}
		}},
		{"escape/escape.vmx", func(t *testing.T, vm discover.VM) {
			extent, parent, fine := diskByLabel(t, vm, "scsi0:0"), diskByLabel(t, vm, "scsi0:1"), diskByLabel(t, vm, "scsi0:2")
			for _, c := range []struct {
				d    discover.Disk
				want []string
			}{
				{extent, []string{"escape.vmdk: line 9: extent file", "(/etc/passwd)", "outside the descriptor's folder", "--allow-path"}},
				{parent, []string{"escape_1.vmdk: line 6: parentFileNameHint \"/etc/passwd\"", "outside the descriptor's folder"}},
			} {
				for _, w := range c.want {
					if !strings.Contains(c.d.Refused, w) {
						t.Errorf("%s: refused %q, want it to contain %q", c.d.Label, c.d.Refused, w)
					}
				}
				if !warned(vm, c.d.Label, c.d.Refused) {
					t.Errorf("%s: no warning; warnings %q", c.d.Label, vm.Warnings)
				}
			}
			if len(parent.Chain) != 0 || fine.Refused != "" || fine.CapacityBytes != 512 {
				t.Errorf("parent chain %q followed, or the clean disk refused %+v", parent.Chain, fine)
			}
		}},
		{"bad-lines/messy.vmx", func(t *testing.T, vm discover.VM) {
			if vm.Name != "messy" || vm.Hardware.MemoryMiB != 768 || vm.Hardware.MemoryUnknown || !warned(vm, "messy.vmx:2:", "line skipped") || !warned(vm, "messy.vmx:3:") {
				t.Errorf("%+v %q", vm.Hardware, vm.Warnings)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) { c.check(t, readCorpus(t, c.file, Options{})) })
	}
}

// TestEstateWhole is the "done when": a folder where one disk is
// missing and one names a /vmfs/volumes path is inventoried whole.
func TestEstateWhole(t *testing.T) {
	vms, err := (&Source{Paths: []string{estate}}).Discover(context.Background(), discover.Options{})
	entries, _ := filepath.Glob(filepath.Join(estate, "*", "*.vmx"))
	if err != nil || len(vms) != len(entries) {
		t.Fatalf("%d VMs of %d files: %v", len(vms), len(entries), err)
	}
	// With a file that is not a VMX at all, the others still come back.
	vms, err = (&Source{Paths: []string{estate, "testdata/unreadable"}}).Discover(context.Background(), discover.Options{})
	u, ok := discover.AsUnreadable(err)
	if !ok || len(u.Files) != 1 || !strings.Contains(err.Error(), "binary.vmx") || len(vms) != len(entries) {
		t.Fatalf("%d VMs, %v", len(vms), err)
	}
}

// TestDatastoreDirs reads ESXi paths from a local copy of the datastore.
func TestDatastoreDirs(t *testing.T) {
	copyDir := t.TempDir()
	writeFlatVMDK(t, mkdir(t, copyDir, "esx-db"), "esx-db_1.vmdk", "vmfs", 6144, "")
	writeFlatVMDK(t, filepath.Join(copyDir, "esx-db"), "esx-db-base.vmdk", "vmfs", 8192, "")
	vm := readCorpus(t, "esxi/esx-db.vmx", Options{DatastoreDirs: map[string]string{"datastore2": copyDir}})
	d := diskByLabel(t, vm, "scsi0:1")
	if d.File != filepath.Join(copyDir, "esx-db", "esx-db_1.vmdk") || d.Datastore != "datastore2" || d.CapacityBytes != 6144*512 || d.CapacityUnknown {
		t.Errorf("mapped disk %+v", d)
	}
	if base := diskByLabel(t, vm, "scsi0:0"); len(base.Chain) != 1 || base.Chain[0] != filepath.Join(copyDir, "esx-db", "esx-db-base.vmdk") {
		t.Errorf("chain %+v", base.Chain)
	}
	if warned(vm, "scsi0:1") || warned(vm, "parent of") || !warned(vm, "scsi0:2", "5f3c1a2b") {
		t.Errorf("warnings %q", vm.Warnings)
	}
}

// TestDeviceNodesNeverOpened: a disk naming a device node or a FIFO is
// refused without opening it (opening a FIFO would block).
func TestDeviceNodesNeverOpened(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "pipe.vmdk")
	if err := mkfifo(fifo); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	p := writeFile(t, dir, "dev.vmx", []byte("scsi0:0.present = TRUE\nscsi0:0.fileName = \"pipe.vmdk\"\nscsi0:1.present = TRUE\nscsi0:1.deviceType = \"scsi-hardDisk\"\nscsi0:1.fileName = \"/dev/zero\"\n"))
	vm, err := ReadFile(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !warned(vm, "scsi0:0", "not a regular file") || !warned(vm, "scsi0:1", "/dev/zero", "not opened") || len(vm.Hardware.Disks) != 2 {
		t.Errorf("warnings %q", vm.Warnings)
	}
}

func mkdir(t *testing.T, parent, name string) string {
	t.Helper()
	p := filepath.Join(parent, name)
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestAllowPathsLetADescriptorOut: with the folder allowed (as --allow-path),
// names that lead there are no longer refused, by extent or by parent.
func TestAllowPathsLetADescriptorOut(t *testing.T) {
	vm := readCorpus(t, "escape/escape.vmx", Options{AllowPaths: []string{"/etc"}})
	for _, label := range []string{"scsi0:0", "scsi0:1"} {
		if d := diskByLabel(t, vm, label); d.Refused != "" {
			t.Errorf("%s: allowed file refused: %q", label, d.Refused)
		}
	}
}
