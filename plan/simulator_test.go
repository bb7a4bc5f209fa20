package plan_test

import (
	"context"
	"io"
	"log"
	"os"
	"testing"

	"github.com/podvm-migrate/podvm-migrate/discover"
	"github.com/podvm-migrate/podvm-migrate/plan"
	"github.com/podvm-migrate/podvm-migrate/testenv/vcsim"
	"github.com/podvm-migrate/podvm-migrate/vsphere"
)

// TestRulesOnSimulatorVMs plans the inventory discovered from the vCenter
// simulator, whose VMs carry known devices and states, and checks that each
// rule fires exactly for the VMs built to trigger it.
func TestRulesOnSimulatorVMs(t *testing.T) {
	ctx := context.Background()
	log.SetOutput(io.Discard) // the simulator logs every expected fault
	defer log.SetOutput(os.Stderr)
	dir := t.TempDir()
	sim, err := vcsim.Start(ctx, vcsim.Options{VMs: 60, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	vms, err := vsphere.NewSource(vsphere.Config{URL: sim.URL.String(), Username: sim.Username, Password: sim.Password, CACerts: sim.CACertFile}).
		Discover(ctx, discover.Options{})
	if err != nil {
		t.Fatal(err)
	}
	inv := discover.NewInventory()
	inv.VMs = vms
	target := plan.DefaultTarget()
	target.SecureBootFirmware = false
	pl, err := plan.NewPlan(inv, plan.Options{Target: &target})
	if err != nil {
		t.Fatal(err)
	}

	// feature of the simulated VM -> the rule it must trigger.
	triggers := map[string]string{
		"secureBoot":      "secure-boot-unavailable",
		"vtpm":            "vtpm",
		"rdm":             "rdm",
		"sharedDisk":      "shared-disk",
		"pciPassthrough":  "pci-passthrough",
		"sriov":           "sriov",
		"usb":             "usb",
		"snapshots":       "snapshots-present",
		"cpuAffinity":     "cpu-affinity",
		"consolidation":   "consolidation-needed",
		"faultTolerance":  "fault-tolerance",
		"independentDisk": "independent-disk",
		"suspended":       "suspended",
		"thirdNIC":        "nic-disconnected",
	}
	fired := map[string]map[string]bool{} // vm -> rule -> fired
	for _, pv := range pl.VMs {
		fired[pv.Name] = map[string]bool{}
		for _, f := range pv.Findings {
			fired[pv.Name][f.Rule] = true
		}
	}
	seen := map[string]int{}
	for _, sv := range sim.VMs {
		for feature, rule := range triggers {
			has := sv.Has(feature)
			// Other features can trigger the same rule (shared disks and RDMs are
			// independent too; RDM and shared disks sit on a sharing bus).
			also := rule == "independent-disk" && (sv.Has("sharedDisk") || sv.Has("rdm") || sv.Has("independentNonPersist")) ||
				rule == "shared-disk" && sv.Has("rdm") || rule == "usb" && sv.Has("usb")
			switch {
			case has && !fired[sv.Name][rule]:
				t.Errorf("%s has %s but %s did not fire", sv.Name, feature, rule)
			case !has && !also && fired[sv.Name][rule]:
				t.Errorf("%s lacks %s but %s fired", sv.Name, feature, rule)
			}
			if has {
				seen[rule]++
			}
		}
		// A powered-on VM gets the cold-copy warning; an off or suspended one does not.
		if on := sv.PowerState == "poweredOn"; on != fired[sv.Name]["powered-on"] {
			t.Errorf("%s: power %s, powered-on fired %v", sv.Name, sv.PowerState, fired[sv.Name]["powered-on"])
		} else if on {
			seen["powered-on"]++
		}
		// CBT VMs have hot-add on; the others have neither.
		if sv.Has("cbt") != fired[sv.Name]["cpu-hotplug"] || sv.Has("cbt") == fired[sv.Name]["cbt-vm"] {
			t.Errorf("%s: cbt %v, cpu-hotplug %v, cbt-vm %v", sv.Name, sv.Has("cbt"), fired[sv.Name]["cpu-hotplug"], fired[sv.Name]["cbt-vm"])
		}
	}
	for _, rule := range append(mapValues(triggers), "powered-on") {
		if seen[rule] == 0 {
			t.Errorf("no simulated VM triggers %s: raise the VM count", rule)
		}
	}
	s := pl.Summary
	if s.VMs != 60 || s.Blocked == 0 || s.Ready+s.Warning == 0 {
		t.Errorf("summary %+v: want a mix of ready and blocked VMs", s)
	}
	t.Logf("60 simulator VMs: %d ready, %d warning, %d blocked", s.Ready, s.Warning, s.Blocked)
}

func mapValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
