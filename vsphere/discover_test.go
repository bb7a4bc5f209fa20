package vsphere

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"strings"
	"testing"

	"github.com/podvm-migrate/podvm-migrate/discover"
	"github.com/podvm-migrate/podvm-migrate/testenv/vcsim"
)

// sim is the simulator every test in this package shares.
var sim *vcsim.Simulator

const simVMs = 90

func TestMain(m *testing.M) {
	log.SetOutput(io.Discard) // the simulator logs expected faults
	var err error
	sim, err = vcsim.Start(context.Background(), vcsim.Options{VMs: simVMs})
	if err != nil {
		fmt.Fprintln(os.Stderr, "vsphere simulator:", err)
		os.Exit(1)
	}
	code := m.Run()
	sim.Close()
	sharedGuest.Remove()
	os.Exit(code)
}

// simConfig is a trusted connection to the simulator.
func simConfig() Config {
	return Config{URL: sim.URL.String(), Username: sim.Username, Password: sim.Password, CACerts: sim.CACertFile}
}

func discoverAll(t *testing.T, cfg Config, f discover.Filter) ([]discover.VM, *Source) {
	t.Helper()
	s := NewSource(cfg)
	vms, err := s.Discover(context.Background(), discover.Options{Filter: f})
	if err != nil {
		t.Fatal(err)
	}
	return vms, s
}

func TestDiscoverReportsEveryDeviceAndState(t *testing.T) {
	vms, src := discoverAll(t, simConfig(), discover.Filter{})
	if len(vms) != simVMs {
		t.Fatalf("%d VMs, want %d", len(vms), simVMs)
	}
	// One pass: login, view, a page, logout and a few fixed calls, whatever the VM count.
	if src.RoundTrips > 10 {
		t.Errorf("%d round trips for %d VMs: discovery must not make a call per VM", src.RoundTrips, simVMs)
	}
	byName := map[string]discover.VM{}
	for _, vm := range vms {
		byName[vm.Name] = vm
	}
	for _, sv := range sim.VMs {
		vm, ok := byName[sv.Name]
		if !ok {
			t.Fatalf("%s not discovered", sv.Name)
		}
		checkVM(t, sv, vm)
	}
}

// checkVM compares one discovered VM with what the simulator gave it.
func checkVM(t *testing.T, sv vcsim.VM, vm discover.VM) {
	t.Helper()
	id, hw, st := vm.Identity, vm.Hardware, vm.State
	fail := func(format string, a ...any) { t.Errorf("%s: "+format, append([]any{sv.Name}, a...)...) }
	if id.MoRef != sv.MoRef || id.InventoryPath != sv.InventoryPath || id.Datacenter != "DC0" || id.InstanceUUID == "" || id.BIOSUUID == "" {
		fail("identity %+v", id)
	}
	if id.Host == "" || id.ResourcePool == "" || !strings.HasPrefix(id.VMXPath, "[datastore1] ") {
		fail("placement %+v", id)
	}
	if sv.Has("standaloneHost") != (id.Cluster == "") {
		fail("cluster %q", id.Cluster)
	}
	if id.Cluster != "" && (st.Cluster == nil || !st.Cluster.DRS || !st.Cluster.HA || st.Cluster.DPM) {
		fail("cluster services %+v", st.Cluster)
	}
	if sv.Has("hostRule") != contains(st.HostAffinity, "DC0_C0_H0") && !(id.Host == "DC0_C0_H0" && len(st.HostAffinity) > 0) {
		fail("host rule: affinity %v", st.HostAffinity)
	}
	if string(st.Power) != sv.PowerState {
		fail("power %s, want %s", st.Power, sv.PowerState)
	}
	if sv.Has("efi") != (hw.Firmware == discover.FirmwareEFI) || sv.Has("secureBoot") != hw.SecureBoot || sv.Has("vtpm") != hw.VTPM {
		fail("firmware %s secure boot %v vtpm %v", hw.Firmware, hw.SecureBoot, hw.VTPM)
	}
	if hw.CPUs < 1 || hw.Sockets*hw.CoresPerSocket != hw.CPUs || hw.MemoryMiB < 512 {
		fail("topology %d = %d x %d, %d MiB", hw.CPUs, hw.Sockets, hw.CoresPerSocket, hw.MemoryMiB)
	}
	if len(hw.Disks) != len(sv.Disks) {
		fail("%d disks, want %d: %+v", len(hw.Disks), len(sv.Disks), hw.Disks)
	}
	ctrl := map[string]discover.Controller{}
	for _, c := range hw.Controllers {
		ctrl[c.ID] = c
	}
	var rdm, shared, indep, nvme bool
	for _, d := range hw.Disks {
		c, ok := ctrl[d.Controller]
		if !ok || d.CapacityBytes <= 0 || d.File == "" || d.Datastore == "" || d.Mode == "" {
			fail("disk %+v on %q", d, d.Controller)
		}
		rdm = rdm || d.RDM != nil && d.RDM.Compatibility == "physicalMode" && d.RDM.Device != ""
		shared = shared || d.Sharing == "sharingMultiWriter" && c.Sharing == "physicalSharing"
		indep = indep || d.Mode == discover.DiskIndependentPersistent && d.Controller == "sata0" && d.Provisioning == discover.ProvisionThickEager && d.Datastore == "datastore2"
		nvme = nvme || c.Type == discover.ControllerNVMe
	}
	if sv.Has("rdm") != rdm || sv.Has("sharedDisk") != shared || sv.Has("independentDisk") != indep || sv.Has("nvme") != nvme {
		fail("rdm %v shared %v independent %v nvme %v: %+v", rdm, shared, indep, nvme, hw.Disks)
	}
	if hw.Disks[0].Controller != "scsi0" || (sv.Has("independentNonPersist") != (hw.Disks[0].Mode == discover.DiskIndependentNonPersist)) {
		fail("first disk %+v", hw.Disks[0])
	}
	wantNICs := 1
	for _, f := range []string{"multiNIC", "thirdNIC", "sriov"} {
		if sv.Has(f) {
			wantNICs++
		}
	}
	if len(hw.NICs) != wantNICs {
		fail("%d NICs, want %d", len(hw.NICs), wantNICs)
	}
	for _, n := range hw.NICs {
		if n.Model == "unknown" || n.MAC == "" || n.Network == "" || n.NetworkID == "" {
			fail("NIC %+v", n)
		}
		if n.Network == "DC0_DVPG0" && (n.Model != "e1000e" || !n.StartConnected || !strings.HasPrefix(n.NetworkID, "dvportgroup-")) {
			fail("distributed port group NIC %+v", n)
		}
	}
	if sv.Has("thirdNIC") && hw.NICs[len(hw.NICs)-1-b2i(sv.Has("sriov"))].StartConnected {
		fail("third NIC starts connected")
	}
	kinds := map[discover.DeviceKind]bool{}
	for _, d := range st.Devices {
		kinds[d.Kind] = true
	}
	if sv.Has("usb") != (kinds[discover.DeviceUSB] && kinds[discover.DeviceUSBController]) || sv.Has("pciPassthrough") != kinds[discover.DevicePCIPassthrough] || sv.Has("sriov") != kinds[discover.DeviceSRIOV] {
		fail("devices %+v", st.Devices)
	}
	if (sv.Has("usb") || sv.Has("pciPassthrough") || sv.Has("sriov")) && !contains(st.HostAffinity, id.Host) {
		fail("host-bound device but host affinity %v", st.HostAffinity)
	}
	if sv.Has("snapshots") != (len(st.Snapshots) == 2 && st.CurrentSnapshot == "before-upgrade/after-upgrade") {
		fail("snapshots %+v current %q", st.Snapshots, st.CurrentSnapshot)
	}
	if sv.Has("cbt") != (st.CBT && hw.CPUHotAdd && hw.MemoryHotAdd) {
		fail("cbt %v hot add %v/%v", st.CBT, hw.CPUHotAdd, hw.MemoryHotAdd)
	}
	if sv.Has("cpuAffinity") != (len(st.CPUAffinity) == 2 && len(st.NUMAAffinity) == 1) || sv.Has("consolidation") != st.ConsolidationNeeded || sv.Has("faultTolerance") != (st.FaultTolerance == "running") {
		fail("affinity %v consolidation %v ft %q", st.CPUAffinity, st.ConsolidationNeeded, st.FaultTolerance)
	}
	g := vm.Guest
	if g.GuestID == "" {
		fail("no guest id")
	}
	if sv.PowerState == "poweredOn" && (len(g.IPAddresses) == 0 || g.Hostname == "" || len(g.Disks) == 0 || g.Disks[0].FreeBytes <= 0 || g.ToolsStatus != "toolsOk" || g.Family == "") {
		fail("guest %+v", g)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestDiscoverFilters(t *testing.T) {
	cases := []struct {
		name   string
		filter discover.Filter
		want   func(vcsim.VM) bool
	}{
		{"name glob", discover.Filter{Name: "db-*"}, func(v vcsim.VM) bool { return strings.HasPrefix(v.Name, "db-") }},
		{"folder and below", discover.Filter{Folder: "/DC0/vm/apps"}, func(v vcsim.VM) bool { return strings.HasPrefix(v.Folder, "apps") }},
		{"folder exact", discover.Filter{Folder: "/DC0/vm/apps/web/"}, func(v vcsim.VM) bool { return v.Folder == "apps/web" }},
		{"power state", discover.Filter{PowerState: discover.PoweredOn}, func(v vcsim.VM) bool { return v.PowerState == "poweredOn" }},
		{"datacenter", discover.Filter{Datacenter: "DC0", PowerState: discover.Suspended}, func(v vcsim.VM) bool { return v.PowerState == "suspended" }},
		{"other datacenter", discover.Filter{Datacenter: "DC9"}, func(vcsim.VM) bool { return false }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			vms, _ := discoverAll(t, simConfig(), c.filter)
			want := 0
			for _, sv := range sim.VMs {
				if c.want(sv) {
					want++
				}
			}
			if len(vms) != want {
				t.Errorf("%d VMs, want %d", len(vms), want)
			}
			for _, vm := range vms {
				if !c.filter.MatchName(vm.Name) {
					t.Errorf("%s passed the filter", vm.Name)
				}
			}
		})
	}
}

func TestProgressIsReported(t *testing.T) {
	var calls, lastDone, lastTotal int
	_, err := NewSource(simConfig()).Discover(context.Background(), discover.Options{Progress: func(done, total int) {
		calls++
		lastDone, lastTotal = done, total
	}})
	if err != nil {
		t.Fatal(err)
	}
	if calls == 0 || lastDone != simVMs || lastTotal != simVMs {
		t.Errorf("progress: %d calls, last %d of %d", calls, lastDone, lastTotal)
	}
}
