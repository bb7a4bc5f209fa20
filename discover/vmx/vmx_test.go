package vmx

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/podvm-migrate/podvm-migrate/discover"
)

// writeFlatVMDK writes a text descriptor of the given createType and size.
func writeFlatVMDK(t *testing.T, dir, name, createType string, sectors int64, extra string) {
	t.Helper()
	desc := "# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType=\"" + createType + "\"\n" + extra +
		"\n# Extent description\nRW " + itoa(sectors) + " VMFS \"" + strings.TrimSuffix(name, ".vmdk") + "-flat.vmdk\"\n\nddb.uuid = \"60 00 C2 91\"\n"
	if err := os.WriteFile(filepath.Join(dir, name), []byte(desc), 0o644); err != nil {
		t.Fatal(err)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// everything is a VMX with every controller, NIC model and device kind,
// written the way real files are: mixed case, quotes and none, CRLF,
// comments, duplicates.
const everything = ".encoding = \"UTF-8\"\r\n" +
	"# a comment\r\n" +
	"config.version = \"8\"\r\n" +
	"virtualHW.version = \"19\"\r\n" +
	"displayName = \"old name\"\r\n" +
	"DISPLAYNAME = \"big|22vm\"\r\n" +
	"guestOS = \"windows2019srv-64\"\r\n" +
	"firmware = \"efi\"\r\n" +
	"uefi.secureBoot.enabled = \"TRUE\"\r\n" +
	"vtpm.present = \"TRUE\"\r\n" +
	"numvcpus = 8\r\n" +
	"cpuid.coresPerSocket = \"4\"\r\n" +
	"memsize = \"8192\"   # MiB\r\n" +
	"vcpu.hotadd = \"TRUE\"\r\n" +
	"mem.hotadd = \"yes\"\r\n" +
	"ctkEnabled = \"TRUE\"\r\n" +
	"sched.cpu.affinity = \"0,2\"\r\n" +
	"numa.nodeAffinity = \"1\"\r\n" +
	"uuid.bios = \"42 30 aa bb cc dd ee ff-00 11 22 33 44 55 66 77\"\r\n" +
	"vc.uuid = \"50 30 aa bb cc dd ee ff-00 11 22 33 44 55 66 77\"\r\n" +
	"scsi0.present = \"TRUE\"\r\nscsi0.virtualDev = \"pvscsi\"\r\n" +
	"scsi1.present = \"TRUE\"\r\nscsi1.virtualDev = \"lsisas1068\"\r\nscsi1.sharedBus = \"physical\"\r\n" +
	"scsi2.present = \"TRUE\"\r\nscsi2.virtualDev = \"buslogic\"\r\n" +
	"scsi3.present = \"TRUE\"\r\n" +
	"sata0.present = \"TRUE\"\r\n" +
	"nvme0.present = \"TRUE\"\r\n" +
	"scsi0:0.present = \"TRUE\"\r\nscsi0:0.fileName = \"disk0.vmdk\"\r\nscsi0:0.ctkEnabled = \"TRUE\"\r\n" +
	"scsi1:0.present = \"TRUE\"\r\nscsi1:0.fileName = \"shared.vmdk\"\r\nscsi1:0.sharing = \"multi-writer\"\r\nscsi1:0.mode = \"independent-persistent\"\r\n" +
	"scsi1:1.present = \"TRUE\"\r\nscsi1:1.fileName = \"rdm.vmdk\"\r\nscsi1:1.mode = \"independent-nonpersistent\"\r\n" +
	"sata0:0.present = \"TRUE\"\r\nsata0:0.fileName = \"delta.vmdk\"\r\n" +
	"sata0:1.present = \"TRUE\"\r\nsata0:1.deviceType = \"cdrom-image\"\r\nsata0:1.fileName = \"x.iso\"\r\n" +
	"nvme0:0.present = \"TRUE\"\r\nnvme0:0.fileName = \"nvme.vmdk\"\r\n" +
	"ide1:0.present = \"TRUE\"\r\nide1:0.deviceType = \"atapi-cdrom\"\r\n" +
	"ide0:0.present = \"FALSE\"\r\nide0:0.fileName = \"gone.vmdk\"\r\n" +
	"ethernet0.present = \"TRUE\"\r\nethernet0.virtualDev = \"vmxnet3\"\r\nethernet0.addressType = \"static\"\r\nethernet0.address = \"00:50:56:AA:BB:CC\"\r\nethernet0.networkName = \"VM Network\"\r\n" +
	"ethernet1.present = \"TRUE\"\r\nethernet1.virtualDev = \"e1000e\"\r\nethernet1.addressType = \"vpx\"\r\nethernet1.generatedAddress = \"00:50:56:01:02:03\"\r\nethernet1.networkName = \"db\"\r\nethernet1.dvs.portgroupId = \"dvportgroup-7\"\r\nethernet1.startConnected = \"FALSE\"\r\n" +
	"ethernet2.present = \"TRUE\"\r\nethernet2.virtualDev = \"e1000\"\r\nethernet2.connectionType = \"nat\"\r\n" +
	"ethernet3.present = \"TRUE\"\r\nethernet3.virtualDev = \"vmxnet\"\r\n" +
	"ethernet4.present = \"TRUE\"\r\n" +
	"ethernet5.present = \"TRUE\"\r\nethernet5.virtualDev = \"vlance\"\r\n" +
	"ethernet6.present = \"TRUE\"\r\nethernet6.virtualDev = \"vmxnet2\"\r\n" +
	"ethernet7.present = \"FALSE\"\r\n" +
	"usb.present = \"TRUE\"\r\nusb_xhci.present = \"TRUE\"\r\nusb:0.present = \"TRUE\"\r\nusb:0.path = \"1/0/3\"\r\n" +
	"pciPassthru0.present = \"TRUE\"\r\npciPassthru0.id = \"0000:3b:00.0\"\r\n" +
	"pciPassthru1.present = \"TRUE\"\r\npciPassthru1.pfId = \"0000:5e:00.0\"\r\n" +
	"serial0.present = \"TRUE\"\r\nserial0.fileName = \"serial.log\"\r\n" +
	"parallel0.present = \"TRUE\"\r\n" +
	"checkpoint.vmState = \"big.vmss\"\r\n"

func TestEveryDeviceAndKey(t *testing.T) {
	dir := t.TempDir()
	writeFlatVMDK(t, dir, "disk0.vmdk", "vmfs", 2048, "ddb.thinProvisioned = \"1\"\n")
	writeFlatVMDK(t, dir, "shared.vmdk", "vmfs", 4096, "")
	writeFlatVMDK(t, dir, "rdm.vmdk", "vmfsPassthroughRawDeviceMap", 8192, "")
	writeFlatVMDK(t, dir, "base.vmdk", "vmfs", 1024, "")
	writeFlatVMDK(t, dir, "delta.vmdk", "vmfsSparse", 1024, "parentFileNameHint=\"base.vmdk\"\n")
	writeFlatVMDK(t, dir, "nvme.vmdk", "vmfs", 512, "")
	writeFile(t, dir, "big.vmsd", []byte(".encoding = \"UTF-8\"\nsnapshot.lastUID = \"2\"\nsnapshot.current = \"2\"\nsnapshot.numSnapshots = \"2\"\n"+
		"snapshot0.uid = \"1\"\nsnapshot0.displayName = \"base\"\nsnapshot0.createTimeHigh = \"389000\"\nsnapshot0.createTimeLow = \"-1\"\n"+
		"snapshot1.uid = \"2\"\nsnapshot1.parent = \"1\"\nsnapshot1.displayName = \"patched\"\n"))
	path := writeFile(t, dir, "big.vmx", []byte(everything))

	vm, err := ReadFile(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	hw, st := vm.Hardware, vm.State
	if vm.Name != `big"vm` || vm.Guest.GuestID != "windows2019srv_64Guest" || vm.Guest.Family != "windowsGuest" {
		t.Errorf("name %q guest %+v", vm.Name, vm.Guest)
	}
	if vm.Identity.BIOSUUID != "4230aabb-ccdd-eeff-0011-223344556677" || vm.Identity.InstanceUUID != "5030aabb-ccdd-eeff-0011-223344556677" {
		t.Errorf("uuids %+v", vm.Identity)
	}
	if hw.Version != "vmx-19" || hw.Firmware != discover.FirmwareEFI || !hw.SecureBoot || !hw.VTPM || hw.CPUs != 8 || hw.CoresPerSocket != 4 || hw.Sockets != 2 ||
		hw.MemoryMiB != 8192 || !hw.CPUHotAdd || !hw.MemoryHotAdd || hw.CDROMs != 2 {
		t.Errorf("hardware %+v", hw)
	}
	wantCtrl := map[string]discover.ControllerType{"scsi0": "pvscsi", "scsi1": "lsisas1068", "scsi2": "buslogic", "scsi3": "lsilogic",
		"sata0": "sata", "nvme0": "nvme", "ide1": "ide"}
	for _, c := range hw.Controllers {
		if wantCtrl[c.ID] != c.Type {
			t.Errorf("controller %+v", c)
		}
		delete(wantCtrl, c.ID)
		if c.ID == "scsi1" && c.Sharing != "physicalSharing" {
			t.Errorf("scsi1 sharing %q", c.Sharing)
		}
	}
	if len(wantCtrl) != 0 {
		t.Errorf("controllers missing: %v", wantCtrl)
	}
	disks := map[string]discover.Disk{}
	for _, d := range hw.Disks {
		disks[d.Label] = d
	}
	if len(disks) != 5 {
		t.Fatalf("%d disks: %+v", len(disks), hw.Disks)
	}
	if d := disks["scsi0:0"]; d.CapacityBytes != 2048*512 || d.Provisioning != discover.ProvisionThin || !d.CBT || d.File != filepath.Join(dir, "disk0.vmdk") {
		t.Errorf("disk0 %+v", d)
	}
	if d := disks["scsi1:0"]; d.Sharing != "sharingMultiWriter" || d.Mode != discover.DiskIndependentPersistent || d.Provisioning != discover.ProvisionThickLazy {
		t.Errorf("shared %+v", d)
	}
	if d := disks["scsi1:1"]; d.RDM == nil || d.RDM.Compatibility != "physicalMode" || d.Mode != discover.DiskIndependentNonPersist {
		t.Errorf("rdm %+v", d)
	}
	if d := disks["sata0:0"]; len(d.Chain) != 1 || d.Chain[0] != filepath.Join(dir, "base.vmdk") || d.Format != "vmfsSparse" {
		t.Errorf("delta %+v", d)
	}
	if d := disks["nvme0:0"]; d.Controller != "nvme0" || d.CapacityBytes != 512*512 {
		t.Errorf("nvme %+v", d)
	}
	models := []string{}
	for _, n := range hw.NICs {
		models = append(models, n.Model)
	}
	if strings.Join(models, ",") != "vmxnet3,e1000e,e1000,vmxnet,vlance,vlance,vmxnet2" {
		t.Errorf("NIC models %v", models)
	}
	if n := hw.NICs[0]; n.MAC != "00:50:56:aa:bb:cc" || n.AddressType != "static" || n.Network != "VM Network" || !n.StartConnected {
		t.Errorf("nic0 %+v", n)
	}
	if n := hw.NICs[1]; n.MAC != "00:50:56:01:02:03" || n.AddressType != "assigned" || n.NetworkID != "dvportgroup-7" || n.StartConnected {
		t.Errorf("nic1 %+v", n)
	}
	if hw.NICs[2].Network != "nat" {
		t.Errorf("nic2 %+v", hw.NICs[2])
	}
	kinds := map[discover.DeviceKind]int{}
	for _, d := range st.Devices {
		kinds[d.Kind]++
	}
	if kinds[discover.DeviceUSBController] != 2 || kinds[discover.DeviceUSB] != 1 || kinds[discover.DevicePCIPassthrough] != 1 || kinds[discover.DeviceSRIOV] != 1 ||
		kinds[discover.DeviceSerial] != 1 || kinds[discover.DeviceParallel] != 1 {
		t.Errorf("devices %+v", st.Devices)
	}
	if !st.CBT || st.Power != discover.Suspended || len(st.CPUAffinity) != 2 || len(st.NUMAAffinity) != 1 {
		t.Errorf("state %+v", st)
	}
	if len(st.Snapshots) != 2 || st.CurrentSnapshot != "base/patched" || st.Snapshots[0].Created.IsZero() {
		t.Errorf("snapshots %+v current %q", st.Snapshots, st.CurrentSnapshot)
	}
}

func TestEncodings(t *testing.T) {
	sjis, _ := japanese.ShiftJIS.NewEncoder().String("displayName = \"ウェブ\"\n")
	gbk, _ := simplifiedchinese.GBK.NewEncoder().String("displayName = \"数据库\"\n")
	cases := []struct {
		name, data, want string
	}{
		{"utf-8", ".encoding = \"UTF-8\"\ndisplayName = \"café\"\n", "café"},
		{"windows-1252", ".encoding = \"windows-1252\"\ndisplayName = \"caf\xe9\"\n", "café"},
		{"no encoding, latin bytes", "displayName = \"caf\xe9\"\n", "café"},
		{"shift_jis", ".encoding = \"Shift_JIS\"\n" + sjis, "ウェブ"},
		{"gbk", ".encoding = \"GBK\"\n" + gbk, "数据库"},
		{"bom", "\xef\xbb\xbfdisplayName = \"x\"\n", "x"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, warns := Parse(c.name, []byte(c.data))
			if len(warns) != 0 {
				t.Errorf("warnings %q", warns)
			}
			if got := d.Get("displayname"); got != c.want {
				t.Errorf("displayName %q, want %q", got, c.want)
			}
		})
	}
}

func TestMalformed(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, data, want string
		unreadable       bool // ReadFile fails: no VM
	}{
		{"no equals sign", "displayName = \"a\"\njust words\n", ":2: ", false},
		{"unterminated quote", "displayName = \"a\"\nguestOS = \"other\n", ":2: ", false},
		{"text after quotes", "displayName = \"a\"\na = \"b\" c\n", ":2: ", false},
		{"unknown encoding", ".encoding = \"klingon\"\n", "klingon", false},
		{"missing disk", "scsi0.present = TRUE\nscsi0:0.present = TRUE\nscsi0:0.fileName = \"nope.vmdk\"\n", "nope.vmdk not found", false},
		{"not a descriptor", "scsi0:0.present = TRUE\nscsi0:0.fileName = \"junk.vmdk\"\n", "not a VMDK descriptor", false},
		{"empty", "\n# only a comment\n", "not a .vmx", true},
	}
	writeFile(t, dir, "junk.vmdk", []byte("hello"))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := writeFile(t, dir, strings.ReplaceAll(c.name, " ", "_")+".vmx", []byte(c.data))
			vm, err := ReadFile(p, Options{})
			if c.unreadable {
				if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), filepath.Base(p)) {
					t.Errorf("error %v: want the file name and %q", err, c.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if w := strings.Join(vm.Warnings, "\n"); !strings.Contains(w, c.want) {
				t.Errorf("warnings %q: want %q", vm.Warnings, c.want)
			}
		})
	}
}

func TestGuestID(t *testing.T) {
	cases := map[string]string{
		"debian12-64": "debian12_64Guest", "ubuntu-64": "ubuntu64Guest", "rhel9-64": "rhel9_64Guest",
		"otherlinux-64": "otherLinux64Guest", "windows9srv-64": "windows9Server64Guest", "centos": "centosGuest",
		"other": "otherGuest", "debian12_64Guest": "debian12_64Guest",
	}
	for in, want := range cases {
		if got := GuestID(in); got != want {
			t.Errorf("GuestID(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSourceExpandsDirectoriesAndFilters(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "sub")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "a.vmx", []byte("displayName = \"web1\"\n"))
	writeFile(t, sub, "b.VMX", []byte("displayName = \"db1\"\n"))
	writeFile(t, sub, "notes.txt", []byte("x"))
	cases := []struct {
		paths  []string
		filter discover.Filter
		want   int
	}{
		{[]string{dir}, discover.Filter{}, 2},
		{[]string{filepath.Join(dir, "*.vmx")}, discover.Filter{}, 1},
		{[]string{dir}, discover.Filter{Name: "db*"}, 1},
		{[]string{dir}, discover.Filter{PowerState: discover.PoweredOn}, 0},
	}
	for _, c := range cases {
		vms, err := (&Source{Paths: c.paths}).Discover(context.Background(), discover.Options{Filter: c.filter})
		if err != nil || len(vms) != c.want {
			t.Errorf("%v %+v: %d VMs, %v; want %d", c.paths, c.filter, len(vms), err, c.want)
		}
	}
	if _, err := (&Source{Paths: []string{filepath.Join(dir, "nothing*.vmx")}}).Discover(context.Background(), discover.Options{}); err == nil {
		t.Error("a pattern matching nothing was accepted")
	}
}
