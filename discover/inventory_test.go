package discover

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// sampleVM fills every field, so a round trip proves each one survives.
func sampleVM() VM {
	return VM{
		Name: "web01",
		Identity: Identity{InstanceUUID: "5030aaaa-0000-0000-0000-000000000001", BIOSUUID: "4230bbbb-0000-0000-0000-000000000001",
			MoRef: "vm-42", InventoryPath: "/DC0/vm/apps/web01", Folder: "/DC0/vm/apps", Datacenter: "DC0", Cluster: "C0",
			Host: "esx1", ResourcePool: "/DC0/host/C0/Resources", VMXPath: "[ds1] web01/web01.vmx"},
		Source: SourceRef{Kind: SourceVSphere, Endpoint: "https://vc.example/sdk"},
		Guest: Guest{GuestID: "debian12_64Guest", FullName: "Debian GNU/Linux 12 (64-bit)", Family: "linuxGuest", Hostname: "web01",
			IPAddresses: []string{"10.0.0.5", "fe80::1"}, ToolsStatus: "toolsOk", ToolsRunningStatus: "guestToolsRunning", ToolsVersion: "12352",
			Disks: []GuestDisk{{Path: "/", FilesystemType: "ext4", CapacityBytes: 64 << 20, FreeBytes: 40 << 20}}},
		Hardware: Hardware{Version: "vmx-20", Firmware: FirmwareEFI, SecureBoot: true, VTPM: true, CPUs: 4, CoresPerSocket: 2, Sockets: 2,
			MemoryMiB: 4096, CPUHotAdd: true, MemoryHotAdd: true, CDROMs: 1,
			Controllers: []Controller{{ID: "scsi0", Type: ControllerPVSCSI, Bus: 0, Sharing: "physicalSharing"}, {ID: "nvme0", Type: ControllerNVMe}},
			Disks: []Disk{{Label: "Hard disk 1", Controller: "scsi0", Unit: 0, CapacityBytes: 64 << 20, File: "[ds1] web01/web01.vmdk",
				Datastore: "ds1", Chain: []string{"[ds1] web01/web01-base.vmdk"}, Format: "vmfs", Mode: DiskIndependentPersistent,
				Sharing: "sharingMultiWriter", Provisioning: ProvisionThin, CBT: true, UUID: "6000C29a",
				RDM: &RDM{Compatibility: "physicalMode", Device: "/vmfs/devices/disks/naa.1", LUNUUID: "0200"}},
				{Label: "scsi0:1", Controller: "scsi0", Unit: 1, File: "[ds2] web01/web01_1.vmdk", Datastore: "ds2", CapacityUnknown: true,
					SourcePath: "/vmfs/volumes/ds2/web01/web01_1.vmdk", Raw: &RawDevice{Kind: "fullDevice", Device: "/dev/sdb"}},
				{Label: "Hard disk 3", Controller: "scsi0", Unit: 2, CapacityBytes: 1 << 30, Blank: true},
				{Label: "Hard disk 4", Controller: "scsi0", Unit: 3, File: "d.vmdk", Chunks: []string{"d.vmdk.000000000", "d.vmdk.000000001"}}},
			NICs: []NIC{{Label: "Network adapter 1", Model: "vmxnet3", MAC: "00:50:56:00:00:01", AddressType: "static", Network: "VM Network",
				NetworkID: "network-7", Connected: true, StartConnected: true}}},
		State: State{Power: PoweredOn, CurrentSnapshot: "base/after",
			Snapshots: []Snapshot{{Name: "base", Path: "base", Created: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
				{Name: "after", Path: "base/after", Quiesced: true, Memory: true}},
			ConsolidationNeeded: true, CBT: true, FaultTolerance: "running",
			Devices: []Device{{Kind: DeviceUSB, Label: "USB 1", Detail: "path:1/0"}, {Kind: DevicePCIPassthrough, Label: "PCI device 0", Detail: "0000:3b:00.0"},
				{Kind: DeviceSerial, Label: "serial1", Detail: "telnet://c:7001", Backing: BackingNetwork}, {Kind: DeviceFloppy, Label: "floppy0"}},
			CPUAffinity: []int{0, 1}, HostAffinity: []string{"esx1"}, ConnectionState: "connected"},
		Warnings: []string{"scsi0:1: \"/vmfs/volumes/ds2/web01/web01_1.vmdk\" is on datastore ds2, not read on this machine"},
	}
}

func TestInventoryRoundTrip(t *testing.T) {
	inv := NewInventory()
	inv.Sources = []string{"https://vc.example/sdk"}
	inv.VMs = []VM{sampleVM(), {Name: "bare", Source: SourceRef{Kind: SourceVMX, Path: "/x/bare.vmx"}, Hardware: Hardware{Firmware: FirmwareBIOS}}}
	marshalers := []struct {
		name string
		fn   func(any) ([]byte, error)
	}{
		{"json", json.Marshal},
		{"yaml", yaml.Marshal},
	}
	for _, m := range marshalers {
		t.Run(m.name, func(t *testing.T) {
			b, err := m.fn(inv)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Unmarshal(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, inv) {
				t.Errorf("round trip changed the inventory:\n got %+v\nwant %+v", got, inv)
			}
			if m.name == "yaml" && !strings.HasPrefix(string(b), "apiVersion: podvm-migrate/v1\n") {
				t.Errorf("yaml does not start with the apiVersion:\n%s", b)
			}
		})
	}
}

func TestUnmarshalRejectsOtherDocuments(t *testing.T) {
	cases := []struct{ name, doc string }{
		{"wrong version", `{"apiVersion":"podvm-migrate/v2","kind":"Inventory"}`},
		{"wrong kind", "apiVersion: podvm-migrate/v1\nkind: Plan\n"},
		{"not a document", "[1,2"},
	}
	for _, c := range cases {
		if _, err := Unmarshal([]byte(c.doc)); err == nil {
			t.Errorf("%s: accepted", c.name)
		}
	}
}

func TestFilter(t *testing.T) {
	on := VM{Name: "web01", State: State{Power: PoweredOn}}
	offline := VM{Name: "db01"}
	cases := []struct {
		f    Filter
		vm   VM
		want bool
	}{
		{Filter{}, on, true},
		{Filter{Name: "web*"}, on, true},
		{Filter{Name: "WEB*"}, on, false},
		{Filter{Name: "db?1"}, offline, true},
		{Filter{PowerState: PoweredOn}, on, true},
		{Filter{PowerState: PoweredOff}, on, false},
		{Filter{PowerState: PoweredOff}, offline, true},
	}
	for _, c := range cases {
		if got := c.f.Match(&c.vm); got != c.want {
			t.Errorf("%+v.Match(%s) = %v", c.f, c.vm.Name, got)
		}
	}
	if err := (Filter{Name: "[x"}).Validate(); err == nil {
		t.Error("bad glob accepted")
	}
	for in, want := range map[string]PowerState{"on": PoweredOn, "PoweredOff": PoweredOff, "suspended": Suspended, "": ""} {
		if got, err := ParsePowerState(in); err != nil || got != want {
			t.Errorf("ParsePowerState(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParsePowerState("standby"); err == nil {
		t.Error("ParsePowerState(standby) accepted")
	}
}

type fixedSource struct {
	name string
	vms  []VM
}

func (s fixedSource) String() string { return s.name }
func (s fixedSource) Discover(_ context.Context, o Options) ([]VM, error) {
	var out []VM
	for _, vm := range s.vms {
		if o.Filter.Match(&vm) {
			out = append(out, vm)
		}
	}
	return out, nil
}

func TestCollectSortsAndFilters(t *testing.T) {
	a := fixedSource{"a", []VM{{Name: "z", Source: SourceRef{Kind: SourceVMX, Path: "/b.vmx"}}, {Name: "y", Source: SourceRef{Kind: SourceVMX, Path: "/a.vmx"}}}}
	b := fixedSource{"b", []VM{{Name: "x", Source: SourceRef{Kind: SourceOVA, Path: "/c.ova"}}}}
	inv, err := Collect(context.Background(), []Source{a, b}, Options{Filter: Filter{Name: "[xy]"}})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, vm := range inv.VMs {
		names = append(names, vm.Name)
	}
	if strings.Join(names, ",") != "x,y" || strings.Join(inv.Sources, ",") != "a,b" {
		t.Errorf("got VMs %v from %v", names, inv.Sources)
	}
}
