package plan

import (
	"strings"
	"testing"

	"github.com/podvm-migrate/podvm-migrate/podvm"

	"sigs.k8s.io/yaml"

	"github.com/podvm-migrate/podvm-migrate/discover"
)

// cleanVM passes every rule: a powered-off Debian VM with one disk and one NIC.
func cleanVM(name string) discover.VM {
	return discover.VM{
		Name:     name,
		Identity: discover.Identity{MoRef: "vm-1", InstanceUUID: "50aa-" + name},
		Source:   discover.SourceRef{Kind: discover.SourceVSphere, Endpoint: "https://vc.example/sdk"},
		Guest: discover.Guest{GuestID: "debian12_64Guest", Hostname: name, IPAddresses: []string{"10.0.0.5"},
			ToolsStatus: "toolsOk", ToolsRunningStatus: "guestToolsRunning",
			Disks: []discover.GuestDisk{{Path: "/", CapacityBytes: 8 << 30, FreeBytes: 4 << 30}}},
		Hardware: discover.Hardware{Firmware: discover.FirmwareBIOS, CPUs: 2, CoresPerSocket: 2, Sockets: 1, MemoryMiB: 1024,
			Controllers: []discover.Controller{{ID: "scsi0", Type: discover.ControllerPVSCSI}},
			Disks: []discover.Disk{{Label: "Hard disk 1", Controller: "scsi0", CapacityBytes: 64 << 20, File: "[ds1] " + name + "/" + name + ".vmdk",
				Datastore: "ds1", Mode: discover.DiskPersistent, CBT: true}},
			NICs: []discover.NIC{{Label: "Network adapter 1", Model: "vmxnet3", MAC: macFor(name), Network: "VM Network", Connected: true, StartConnected: true}}},
		State: discover.State{Power: discover.PoweredOff, CBT: true, ConnectionState: "connected"},
	}
}

func macFor(name string) string {
	b := []byte("00:50:56:00:00:00")
	for i, c := range name {
		b[16-i%2] = "0123456789abcdef"[(int(c)+i)%16]
	}
	return string(b)
}

func TestEveryRuleFiresAndStaysQuiet(t *testing.T) {
	cases := map[string]func(vm *discover.VM, o *Options){
		"cpu-hotplug":    func(vm *discover.VM, _ *Options) { vm.Hardware.CPUHotAdd = true },
		"memory-hotplug": func(vm *discover.VM, _ *Options) { vm.Hardware.MemoryHotAdd = true },
		"memory-unknown": func(vm *discover.VM, _ *Options) {
			vm.Hardware.MemoryMiB, vm.Hardware.MemoryUnknown = 32, true
		},
		"cpu-above-target": func(vm *discover.VM, o *Options) { o.Target.MaxVCPUs = 1 },

		"memory-above-target": func(vm *discover.VM, o *Options) { o.Target.MaxMemoryMiB = 512 },
		"secure-boot-unavailable": func(vm *discover.VM, o *Options) {
			vm.Hardware.Firmware, vm.Hardware.SecureBoot, o.Target.SecureBootFirmware = discover.FirmwareEFI, true, false
		},
		"vtpm": func(vm *discover.VM, _ *Options) { vm.Hardware.VTPM = true },
		"pci-passthrough": func(vm *discover.VM, _ *Options) {
			vm.State.Devices = append(vm.State.Devices, discover.Device{Kind: discover.DevicePCIPassthrough, Label: "PCI device 0", Detail: "0000:3b:00.0"})
		},
		"sriov": func(vm *discover.VM, _ *Options) { vm.Hardware.NICs[0].Model = "sriov" },
		"usb": func(vm *discover.VM, _ *Options) {
			vm.State.Devices = append(vm.State.Devices, discover.Device{Kind: discover.DeviceUSB, Label: "USB 1"})
		},
		"fault-tolerance": func(vm *discover.VM, _ *Options) { vm.State.FaultTolerance = "running" },
		"serial-parallel": func(vm *discover.VM, _ *Options) {
			vm.State.Devices = append(vm.State.Devices, discover.Device{Kind: discover.DeviceSerial, Label: "Serial port 1"})
		},

		"floppy": func(vm *discover.VM, _ *Options) {
			vm.State.Devices = append(vm.State.Devices, discover.Device{Kind: discover.DeviceFloppy, Label: "floppy0", Detail: "drivers.flp", Backing: "file"})
		},
		"scsi-passthrough": func(vm *discover.VM, _ *Options) {
			vm.State.Devices = append(vm.State.Devices, discover.Device{Kind: discover.DeviceSCSIPassthrough, Label: "scsi0:3", Detail: "/dev/sg1"})
		},
		"discovery-warnings": func(vm *discover.VM, _ *Options) {
			vm.Warnings = []string{"scsi0:1: disk x.vmdk not found: capacity unknown"}
		},
		"raw-device-disk": func(vm *discover.VM, _ *Options) {
			vm.Hardware.Disks[0].Raw = &discover.RawDevice{Kind: "fullDevice", Device: "/dev/sdb"}
		},
		"chunked-disk": func(vm *discover.VM, _ *Options) {
			vm.Hardware.Disks[0].Chunks = []string{"d.vmdk.000000000", "d.vmdk.000000001"}
		},

		"disk-path-refused": func(vm *discover.VM, _ *Options) {
			vm.Hardware.Disks[0].Refused = `/vms/web01.vmdk: line 9: extent file "/etc/passwd" refused: outside the descriptor's folder`
		},
		"disk-capacity-invalid": func(vm *discover.VM, _ *Options) { vm.Hardware.Disks[0].CapacityBytes = 0 },
		"datastore-missing":     func(vm *discover.VM, _ *Options) { vm.Hardware.Disks[0].Datastore = "" },
		"datastore-unmapped":    func(vm *discover.VM, o *Options) { o.Mappings.Storage = []Mapping{{Source: "other", Target: "x"}} },
		"too-many-disks": func(vm *discover.VM, _ *Options) {
			vm.Guest.GuestID = "windows2019srv_64Guest" // compat: SATA, 6 ports
			for i := 0; i < 7; i++ {
				vm.Hardware.Disks = append(vm.Hardware.Disks, vm.Hardware.Disks[0])
			}
		},
		"independent-disk": func(vm *discover.VM, _ *Options) { vm.Hardware.Disks[0].Mode = discover.DiskIndependentPersistent },
		"rdm": func(vm *discover.VM, _ *Options) {
			vm.Hardware.Disks[0].RDM = &discover.RDM{Compatibility: "physicalMode"}
		},
		"shared-disk":          func(vm *discover.VM, _ *Options) { vm.Hardware.Controllers[0].Sharing = "physicalSharing" },
		"snapshots-present":    func(vm *discover.VM, _ *Options) { vm.State.Snapshots = []discover.Snapshot{{Name: "s1", Path: "s1"}} },
		"consolidation-needed": func(vm *discover.VM, _ *Options) { vm.State.ConsolidationNeeded = true },
		"cbt-vm":               func(vm *discover.VM, _ *Options) { vm.State.CBT = false },
		"cbt-disk":             func(vm *discover.VM, _ *Options) { vm.Hardware.Disks[0].CBT = false },
		"controller-no-kvm-equivalent": func(vm *discover.VM, _ *Options) {
			vm.Hardware.Controllers[0].Type = discover.ControllerBusLogic
		},

		"network-unmapped": func(vm *discover.VM, o *Options) { o.Mappings.Network = []Mapping{{Source: "DMZ", Target: "pod"}} },
		"mac-duplicate":    func(vm *discover.VM, _ *Options) { vm.Hardware.NICs[0].MAC = macFor("other") },
		"pod-network-nics": func(vm *discover.VM, _ *Options) {
			vm.Hardware.NICs = append(vm.Hardware.NICs, discover.NIC{Model: "e1000", MAC: "00:50:56:3f:ff:01", Network: "Backup"})
		},
		"nic-disconnected": func(vm *discover.VM, _ *Options) {
			vm.Hardware.NICs[0].Connected, vm.Hardware.NICs[0].StartConnected = false, false
		},

		"guest-os-unsupported": func(vm *discover.VM, _ *Options) { vm.Guest.GuestID = "solaris11_64Guest" },
		"tools-not-running": func(vm *discover.VM, _ *Options) {
			vm.State.Power, vm.Guest.ToolsRunningStatus = discover.PoweredOn, "guestToolsNotRunning"
		},
		"hostname-default":     func(vm *discover.VM, _ *Options) { vm.Guest.Hostname = "localhost.localdomain" },
		"ip-missing":           func(vm *discover.VM, _ *Options) { vm.State.Power, vm.Guest.IPAddresses = discover.PoweredOn, nil },
		"guest-free-space-low": func(vm *discover.VM, _ *Options) { vm.Guest.Disks[0].FreeBytes = 10 << 20 },
		"name-not-dns1123":     func(vm *discover.VM, _ *Options) { vm.Name = "Web_01" },

		"cpu-affinity":     func(vm *discover.VM, _ *Options) { vm.State.CPUAffinity = []int{0, 1} },
		"numa-affinity":    func(vm *discover.VM, _ *Options) { vm.State.NUMAAffinity = []int{1} },
		"host-affinity":    func(vm *discover.VM, _ *Options) { vm.State.HostAffinity = []string{"esx1"} },
		"cluster-services": func(vm *discover.VM, _ *Options) { vm.State.Cluster = &discover.Cluster{DRS: true, HA: true} },
		"vm-not-connected": func(vm *discover.VM, _ *Options) { vm.State.ConnectionState = "orphaned" },
		"template":         func(vm *discover.VM, _ *Options) { vm.Identity.Template = true },
		"suspended":        func(vm *discover.VM, _ *Options) { vm.State.Power = discover.Suspended },
		"powered-on":       func(vm *discover.VM, _ *Options) { vm.State.Power = discover.PoweredOn },
		"check-unreachable": func(vm *discover.VM, o *Options) {
			vm.Hardware.NICs = nil
			o.Checks = []CheckAssignment{{VMs: "web*", Check: "tcp:22"}}
		},
		"check-ping-user-network": func(vm *discover.VM, o *Options) { o.Checks = []CheckAssignment{{VMs: "*", Check: "ping"}} },
	}
	for _, r := range Rules() {
		mutate, ok := cases[r.ID]
		if !ok {
			t.Errorf("rule %s has no test case", r.ID)
			continue
		}
		t.Run(r.ID, func(t *testing.T) {
			// Quiet: the clean VM does not trigger the rule.
			inv := discover.NewInventory()
			inv.VMs = []discover.VM{cleanVM("web01"), cleanVM("other")}
			p, err := NewPlan(inv, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if fs := findings(p, "web01", r.ID); len(fs) != 0 {
				t.Fatalf("clean VM triggers %s: %+v", r.ID, fs)
			}
			if p.VMs[0].Status != StatusReady {
				t.Fatalf("clean VM is %s: %+v", p.VMs[0].Status, p.VMs[0].Findings)
			}
			// Fires: the mutated VM triggers it, with the rule's severity
			// (or a lower one the rule chose), a message and a remediation.
			vm := cleanVM("web01")
			target := DefaultTarget()
			o := Options{Target: &target}
			mutate(&vm, &o)
			inv.VMs[0] = vm
			p, err = NewPlan(inv, o)
			if err != nil {
				t.Fatal(err)
			}
			fs := findings(p, vm.Name, r.ID)
			if len(fs) == 0 {
				t.Fatalf("rule %s did not fire; findings %+v", r.ID, p.VMs[0].Findings)
			}
			for _, f := range fs {
				if f.Message == "" || f.Remediation == "" || f.Category != r.Category || f.Severity.rank() > r.Severity.rank() {
					t.Errorf("finding %+v", f)
				}
			}
			pv, _ := p.VM(vm.Name)
			if r.Severity == SeverityCritical && fs[0].Severity == SeverityCritical && pv.Status != StatusBlocked {
				t.Errorf("critical finding left the VM %s", pv.Status)
			}
		})
	}
	if len(cases) != len(Rules()) {
		t.Errorf("%d test cases for %d rules", len(cases), len(Rules()))
	}
}

func findings(p *Plan, vm, rule string) []Finding {
	var out []Finding
	if pv, ok := p.VM(vm); ok {
		for _, f := range pv.Findings {
			if f.Rule == rule {
				out = append(out, f)
			}
		}
	}
	return out
}

func TestRulesAreWellFormed(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range Rules() {
		if seen[r.ID] || !podvm.IsDNS1123Label(r.ID) || r.Checks == "" || r.Remediation == "" || r.Category == "" || r.Severity.rank() == 0 || r.check == nil {
			t.Errorf("rule %+v is malformed or duplicated", r)
		}
		seen[r.ID] = true
	}
	if len(seen) < 35 {
		t.Errorf("only %d rules", len(seen))
	}
}

func TestAllowOverridesACriticalRulePerVM(t *testing.T) {
	inv := discover.NewInventory()
	a, b := cleanVM("db01"), cleanVM("db02")
	for _, vm := range []*discover.VM{&a, &b} {
		vm.Hardware.Disks[0].RDM = &discover.RDM{Compatibility: "virtualMode"}
	}
	inv.VMs = []discover.VM{a, b}
	p, err := NewPlan(inv, Options{Allow: map[string][]string{"db01": {"rdm"}}})
	if err != nil {
		t.Fatal(err)
	}
	one, _ := p.VM("db01")
	two, _ := p.VM("db02")
	if one.Status != StatusWarning || len(one.Overrides) != 1 || !findings(p, "db01", "rdm")[0].Overridden {
		t.Errorf("db01 with --allow rdm: %s %v %+v", one.Status, one.Overrides, one.Findings)
	}
	if two.Status != StatusBlocked {
		t.Errorf("db02 without --allow: %s", two.Status)
	}
	for _, bad := range []map[string][]string{{"*": {"no-such-rule"}}, {"*": {"vtpm"}}} {
		if _, err := NewPlan(inv, Options{Allow: bad}); err == nil {
			t.Errorf("--allow %v accepted", bad)
		}
	}
}

func TestSpecFromVM(t *testing.T) {
	vm := cleanVM("Web 01")
	vm.Hardware.Firmware, vm.Hardware.SecureBoot, vm.Hardware.VTPM = discover.FirmwareEFI, true, true
	vm.Hardware.CPUs, vm.Hardware.CoresPerSocket, vm.Hardware.Sockets = 8, 4, 2
	vm.Hardware.NICs = append(vm.Hardware.NICs, discover.NIC{Model: "e1000", MAC: "00:50:56:AA:BB:CC", Network: "DMZ"})
	win := cleanVM("win01")
	win.Guest.GuestID = "windows2019srv_64Guest"
	inv := discover.NewInventory()
	inv.VMs = []discover.VM{vm, win, cleanVM("web-01")}
	p, err := NewPlan(inv, Options{Mappings: Mappings{
		Network: []Mapping{{Source: "*", Target: "pod"}, {Source: "DMZ", Target: "prod/dmz"}},
		Storage: []Mapping{{Source: "ds1", Target: "fast"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	s := p.VMs[0].Spec
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if s.Name != "web-01" || p.VMs[2].Spec.Name != "web-01-2" {
		t.Errorf("names %q and %q; want web-01 and web-01-2", s.Name, p.VMs[2].Spec.Name)
	}
	if s.Firmware != (podvm.Firmware{Type: podvm.FirmwareEFI, SecureBoot: true, SMM: true}) || !s.TPM || s.CPU != (podvm.CPU{Sockets: 2, Cores: 4, Threads: 1}) || s.MemoryMiB != 1024 {
		t.Errorf("spec %+v", s)
	}
	if s.Mode != podvm.ModeVirtio || s.Disks[0].Bus != podvm.BusVirtio || s.Disks[0].StorageClass != "fast" || s.Disks[0].Source != "[ds1] Web 01/Web 01.vmdk" {
		t.Errorf("disks %+v", s.Disks)
	}
	if s.NICs[0].Network != "pod" || s.NICs[1].Network != "prod/dmz" || s.NICs[1].MAC != "00:50:56:aa:bb:cc" || s.NICs[1].Model != podvm.NICVirtio {
		t.Errorf("nics %+v", s.NICs)
	}
	if s.Source.VCenter != "vc.example" || s.Source.Name != "Web 01" {
		t.Errorf("source %+v", s.Source)
	}
	w := p.VMs[1].Spec
	if w.Mode != podvm.ModeCompat || w.Disks[0].Bus != podvm.BusSATA || w.NICs[0].Model != podvm.NICE1000E || w.Guest.Family != "windows" {
		t.Errorf("windows spec %+v", w)
	}
}

func TestPlanDocumentRoundTripAndSummary(t *testing.T) {
	inv := discover.NewInventory()
	bad := cleanVM("bad")
	bad.State.FaultTolerance = "running"
	warn := cleanVM("warn")
	warn.Hardware.VTPM = true
	inv.VMs = []discover.VM{cleanVM("ok"), warn, bad}
	p, err := NewPlan(inv, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := p.Summary
	if s.VMs != 3 || s.Ready != 1 || s.Warning != 1 || s.Blocked != 1 || s.Rules[0].Rule != "fault-tolerance" {
		t.Errorf("summary %+v", s)
	}
	b, err := yaml.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	back, err := UnmarshalPlan(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.VMs) != 3 || back.VMs[2].Status != StatusBlocked || back.VMs[2].Findings[0].Rule != "fault-tolerance" {
		t.Errorf("round trip: %+v", back.VMs)
	}
	for _, doc := range []string{"apiVersion: podvm-migrate/v1\nkind: Inventory\n", "kind: Plan\napiVersion: podvm-migrate/v1\nvms: [{name: x, spec: {name: X}}]\n", "{"} {
		if _, err := UnmarshalPlan([]byte(doc)); err == nil {
			t.Errorf("accepted %q", doc)
		}
	}
}

func TestSelectVMs(t *testing.T) {
	inv := discover.NewInventory()
	inv.VMs = []discover.VM{cleanVM("web01"), cleanVM("web02"), cleanVM("db01")}
	p, err := NewPlan(inv, Options{VMs: []string{"web*"}})
	if err != nil || len(p.VMs) != 2 {
		t.Fatalf("--vm web*: %v, %d VMs", err, len(p.VMs))
	}
	if _, err := NewPlan(inv, Options{VMs: []string{"web01", "typo"}}); err == nil || !strings.Contains(err.Error(), "typo") {
		t.Errorf("--vm typo: %v", err)
	}
}

func TestDNSName(t *testing.T) {
	cases := map[string]string{
		"web01": "web01", "Web 01": "web-01", "SQL_Server.prod": "sql-server-prod", "--x--": "x", "日本": "vm",
		strings.Repeat("a", 70): strings.Repeat("a", 63),
	}
	for in, want := range cases {
		if got := DNSName(in); got != want || !podvm.IsDNS1123Label(got) {
			t.Errorf("DNSName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNamesWithSlashesMatchGlobs(t *testing.T) {
	vm := cleanVM("app/01")
	vm.Hardware.NICs[0].Network = "DC1/VLAN 10"
	vm.Hardware.Disks[0].RDM = &discover.RDM{Compatibility: "virtualMode"}
	inv := discover.NewInventory()
	inv.VMs = []discover.VM{vm}
	p, err := NewPlan(inv, Options{VMs: []string{"app*"}, Allow: map[string][]string{"*": {"rdm"}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := findings(p, "app/01", "network-unmapped"); len(got) != 0 {
		t.Errorf("'*=pod' did not map %q: %+v", vm.Hardware.NICs[0].Network, got)
	}
	if pv, _ := p.VM("app/01"); pv.Status == StatusBlocked || pv.Spec.NICs[0].Network != PodNetwork {
		t.Errorf("--allow '*:rdm' did not reach app/01: %s %+v", pv.Status, pv.Spec.NICs)
	}
	if _, err := NewPlan(inv, Options{Allow: map[string][]string{"db01": {"rdm"}}}); err == nil || !strings.Contains(err.Error(), "no VM of that name") {
		t.Errorf("--allow for an unknown VM: %v", err)
	}
	for pattern, name := range map[string]string{"web-0?": "web-01", "[wd]b*": "db/x", "x[!a]z": "xbz", "a.b": "a.b"} {
		g, err := Glob(pattern)
		if err != nil || !g.MatchString(name) {
			t.Errorf("Glob(%q) does not match %q: %v", pattern, name, err)
		}
	}
	if g, _ := Glob("a.b"); g.MatchString("axb") {
		t.Error("'.' in a pattern matched any character")
	}
	if _, err := Glob("[x"); err == nil {
		t.Error("unterminated class accepted")
	}
}

func TestPlanRejectsDuplicatePodVMNames(t *testing.T) {
	inv := discover.NewInventory()
	inv.VMs = []discover.VM{cleanVM("web01"), cleanVM("db01")}
	p, err := NewPlan(inv, Options{})
	if err != nil {
		t.Fatal(err)
	}
	p.VMs[1].Spec.Name = "web01"
	b, _ := yaml.Marshal(p)
	if _, err := UnmarshalPlan(b); err == nil || !strings.Contains(err.Error(), `vms[1].spec.name "web01": also vms[0]'s`) {
		t.Errorf("duplicate pod VM names: %v", err)
	}
}

func TestWindowsGeneratedHostnames(t *testing.T) {
	for _, h := range []string{"WIN-8F3K2L1QZ0A", "DESKTOP-4J2KL9", "MININT-AB12CD"} {
		vm := cleanVM("w")
		vm.Guest.Hostname = h
		inv := discover.NewInventory()
		inv.VMs = []discover.VM{vm}
		p, _ := NewPlan(inv, Options{})
		if len(findings(p, "w", "hostname-default")) != 1 {
			t.Errorf("%s not reported as a default host name", h)
		}
	}
}

// TestOfflineDiskAndPortMessages: rules tell unknown capacity, blank and
// unread disks apart, and rate a port by what backs it.
func TestOfflineDiskAndPortMessages(t *testing.T) {
	cases := []struct {
		name, rule, want string
		severity         Severity
		mutate           func(vm *discover.VM)
	}{
		{"unknown capacity", "disk-capacity-invalid", "unknown capacity", SeverityCritical, func(vm *discover.VM) {
			vm.Hardware.Disks[0].CapacityBytes, vm.Hardware.Disks[0].CapacityUnknown = 0, true
		}},
		{"blank OVF disk", "datastore-missing", "is blank", SeverityCritical, func(vm *discover.VM) {
			vm.Hardware.Disks[0].File, vm.Hardware.Disks[0].Blank = "", true
		}},
		{"host path not read", "datastore-missing", `names "/home/x/d.vmdk"`, SeverityCritical, func(vm *discover.VM) {
			vm.Hardware.Disks[0].File, vm.Hardware.Disks[0].SourcePath = "", "/home/x/d.vmdk"
		}},
		{"serial to a file", "serial-parallel", "writes to a file", SeverityInfo, func(vm *discover.VM) {
			vm.State.Devices = []discover.Device{{Kind: discover.DeviceSerial, Label: "serial0", Detail: "console.log", Backing: discover.BackingFile}}
		}},
		{"serial to a pipe", "serial-parallel", "backed by a pipe", SeverityWarning, func(vm *discover.VM) {
			vm.State.Devices = []discover.Device{{Kind: discover.DeviceSerial, Label: "serial1", Detail: `\\.\pipe\com_2`, Backing: discover.BackingPipe}}
		}},
		{"serial to the network", "serial-parallel", "backed by a network", SeverityWarning, func(vm *discover.VM) {
			vm.State.Devices = []discover.Device{{Kind: discover.DeviceSerial, Label: "serial2", Detail: "telnet://c:7001", Backing: discover.BackingNetwork}}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			vm := cleanVM("web01")
			vm.Source = discover.SourceRef{Kind: discover.SourceVMX, Path: "/x/web01.vmx"}
			c.mutate(&vm)
			inv := discover.NewInventory()
			inv.VMs = []discover.VM{vm}
			p, err := NewPlan(inv, Options{})
			if err != nil {
				t.Fatal(err)
			}
			fs := findings(p, "web01", c.rule)
			if len(fs) != 1 || !strings.Contains(fs[0].Message, c.want) || fs[0].Severity != c.severity {
				t.Errorf("findings %+v: want one %s finding with %q", fs, c.severity, c.want)
			}
		})
	}
}

// TestPlanWithAnUnreadableDiskLoads: a disk whose file was not found has no
// known capacity; its VM is blocked, and the plan still loads, so migrate
// runs the other VMs (one bad VM never stops the others).
func TestPlanWithAnUnreadableDiskLoads(t *testing.T) {
	inv := discover.NewInventory()
	lost := cleanVM("lost")
	lost.Hardware.Disks[0].CapacityBytes, lost.Hardware.Disks[0].CapacityUnknown, lost.Hardware.Disks[0].File = 0, true, ""
	inv.VMs = []discover.VM{cleanVM("ok"), lost}
	p, err := NewPlan(inv, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := yaml.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	back, err := UnmarshalPlan(b)
	if err != nil {
		t.Fatalf("a plan with one unreadable disk does not load: %v", err)
	}
	if back.VMs[0].Status == StatusBlocked || back.VMs[1].Status != StatusBlocked {
		t.Errorf("statuses %s, %s: want the VM without its disk blocked, the other not", back.VMs[0].Status, back.VMs[1].Status)
	}
}
