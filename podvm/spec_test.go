package podvm

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func validSpec() Spec {
	return Spec{
		Name:      "web01",
		Source:    SourceRef{Name: "Web01", Moref: "vm-42", InstanceUUID: "5012-ab"},
		Guest:     Guest{OSID: "debian12_64Guest", Family: "linux"},
		Firmware:  Firmware{Type: FirmwareEFI, SecureBoot: true, SMM: true},
		CPU:       CPU{Sockets: 1, Cores: 2, Threads: 1},
		MemoryMiB: 512,
		Mode:      ModeVirtio,
		Disks:     []Disk{{Name: "disk0", Bus: BusVirtio, CapacityBytes: 64 << 20, File: "disk0.qcow2"}},
		NICs:      []NIC{{Name: "nic0", Model: NICVirtio, MAC: "00:50:56:3f:00:01", Network: "pod"}},
	}
}

func TestSpecValidate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*Spec)
		field  string // empty: valid
	}{
		{"valid", func(*Spec) {}, ""},
		{"upper-case name", func(s *Spec) { s.Name = "Web01" }, "name"},
		{"secure boot on bios", func(s *Spec) { s.Firmware.Type = FirmwareBIOS }, "firmware.secureBoot"},
		{"unknown firmware", func(s *Spec) { s.Firmware.Type = "coreboot" }, "firmware.type"},
		{"zero cores", func(s *Spec) { s.CPU.Cores = 0 }, "cpu"},
		{"tiny memory", func(s *Spec) { s.MemoryMiB = 1 }, "memoryMiB"},
		{"bad machine", func(s *Spec) { s.MachineType = "virt" }, "machineType"},
		{"bad mode", func(s *Spec) { s.Mode = "fast" }, "mode"},
		{"no disks", func(s *Spec) { s.Disks = nil }, "disks"},
		{"bad bus", func(s *Spec) { s.Disks[0].Bus = "nvme" }, "disks[0].bus"},
		{"negative size", func(s *Spec) { s.Disks[0].CapacityBytes = -1 }, "disks[0].capacityBytes"},
		{"bad cache", func(s *Spec) { s.Disks[0].Cache = "unsafe" }, "disks[0].cache"},
		{"duplicate name", func(s *Spec) { s.NICs[0].Name = "disk0" }, "nics[0].name"},
		{"bad model", func(s *Spec) { s.NICs[0].Model = "vmxnet3" }, "nics[0].model"},
		{"bad mac", func(s *Spec) { s.NICs[0].MAC = "00:50:56" }, "nics[0].mac"},
		{"multicast mac", func(s *Spec) { s.NICs[0].MAC = "01:00:5e:00:00:01" }, "nics[0].mac"},
		{"duplicate mac", func(s *Spec) {
			s.NICs = append(s.NICs, NIC{Name: "nic1", Model: NICE1000E, MAC: "00:50:56:3F:00:01"})
		}, "nics[1].mac"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := validSpec()
			c.mutate(&s)
			err := s.Validate()
			if c.field == "" {
				if err != nil {
					t.Fatalf("valid spec rejected: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), ": "+c.field+": ") {
				t.Errorf("error %v; want one naming %s", err, c.field)
			}
		})
	}
}

func TestSpecJSONRoundTrip(t *testing.T) {
	s := validSpec()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back Spec
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s, back) {
		t.Errorf("round trip changed the spec:\n%+v\n%+v", s, back)
	}
}

func TestCompatibilityModeDevices(t *testing.T) {
	if DiskBus(ModeCompat) != BusSATA || NICModel(ModeCompat) != NICE1000E || DiskBus(ModeVirtio) != BusVirtio || NICModel(ModeVirtio) != NICVirtio {
		t.Error("compatibility mode devices wrong")
	}
	if s := (CPU{Sockets: 2, Cores: 4, Threads: 2}); s.VCPUs() != 16 {
		t.Errorf("VCPUs = %d", s.VCPUs())
	}
}

func TestNameFromFile(t *testing.T) {
	for in, want := range map[string]string{
		"/x/Web 01.vmdk":    "web-01",
		"guest-stream.vmdk": "guest-stream",
		"___.raw":           "podvm",
		"DB_Server.qcow2":   "db-server",
	} {
		if got := NameFromFile(in); got != want || !IsDNS1123Label(got) {
			t.Errorf("NameFromFile(%q) = %q, want %q", in, got, want)
		}
	}
}
