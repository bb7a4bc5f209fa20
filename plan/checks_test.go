package plan

import (
	"encoding/json"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/podvm-migrate/podvm-migrate/discover"
)

func TestChecksArePlannedPerVM(t *testing.T) {
	inv := discover.NewInventory()
	inv.VMs = []discover.VM{cleanVM("web01"), cleanVM("web02"), cleanVM("db01")}
	var as []CheckAssignment
	for _, s := range []string{"web*=tcp:22", "web01=http://:8080/health=200", "*=tcp:22", "db01=ping"} {
		a, err := ParseCheckAssignment(s)
		if err != nil {
			t.Fatal(err)
		}
		as = append(as, a)
	}
	p, err := NewPlan(inv, Options{Checks: as})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"web01": "tcp:22,http://:8080/health=200", "web02": "tcp:22", "db01": "tcp:22,ping"}
	for _, vm := range p.VMs {
		if got := strings.Join(vm.Checks, ","); got != want[vm.Name] {
			t.Errorf("%s checks %q, want %q", vm.Name, got, want[vm.Name])
		}
	}
	// The ping check on the default (pod, user) network is noted; the tcp
	// checks of VMs with a NIC are not.
	if fs := findings(p, "db01", "check-ping-user-network"); len(fs) != 1 || !strings.Contains(fs[0].Message, "skipped") {
		t.Errorf("db01 findings %+v", fs)
	}
	for _, vm := range []string{"web01", "web02"} {
		if fs := append(findings(p, vm, "check-ping-user-network"), findings(p, vm, "check-unreachable")...); len(fs) != 0 {
			t.Errorf("%s: %+v", vm, fs)
		}
	}
	// On a libvirt network a ping can reach the guest: nothing to note.
	p, err = NewPlan(inv, Options{Checks: as, Mappings: Mappings{Network: []Mapping{{Source: "*", Target: "libvirt:default"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if fs := findings(p, "db01", "check-ping-user-network"); len(fs) != 0 {
		t.Errorf("libvirt network: %+v", fs)
	}

	// The checks round-trip through YAML and JSON.
	for name, marshal := range map[string]func(any) ([]byte, error){"yaml": yaml.Marshal, "json": json.Marshal} {
		b, err := marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		back, err := UnmarshalPlan(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for i := range p.VMs {
			if strings.Join(back.VMs[i].Checks, ",") != strings.Join(p.VMs[i].Checks, ",") {
				t.Errorf("%s: %s checks %v, want %v", name, back.VMs[i].Name, back.VMs[i].Checks, p.VMs[i].Checks)
			}
		}
		cs, err := back.VMs[0].ParsedChecks()
		if err != nil || len(cs) != 2 || cs[1].Status != 200 || cs[1].GuestPort() != 8080 {
			t.Errorf("%s: parsed %+v, %v", name, cs, err)
		}
	}
	if b, _ := yaml.Marshal(p); !strings.Contains(string(b), "- checks:\n  - tcp:22\n  - http://:8080/health=200\n  name: web01\n") {
		t.Errorf("plan YAML:\n%s", b)
	}
}

func TestBadChecksNameTheVMAndField(t *testing.T) {
	inv := discover.NewInventory()
	inv.VMs = []discover.VM{cleanVM("web01"), cleanVM("db01")}
	p, err := NewPlan(inv, Options{})
	if err != nil {
		t.Fatal(err)
	}
	p.VMs[1].Checks = []string{"tcp:22", "tcp:99999"}
	b, _ := yaml.Marshal(p)
	_, err = UnmarshalPlan(b)
	if err == nil || !strings.Contains(err.Error(), "vms[1] (db01).checks[1]") || !strings.Contains(err.Error(), `"tcp:99999"`) || !strings.Contains(err.Error(), "want tcp:PORT") {
		t.Errorf("bad check in the plan: %v", err)
	}

	for flag, want := range map[string]string{
		"tcp:22":            "want VMGLOB=CHECK",
		"=tcp:22":           "want VMGLOB=CHECK",
		"web01=":            "unknown kind",
		"web01=udp:53":      "unknown kind",
		"web01=http://:0/x": `port "0"`,
		"web[01=tcp:22":     "'[' without ']'",
	} {
		if _, err := ParseCheckAssignment(flag); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("--check %s: %v, want %q", flag, err, want)
		}
	}
	// A glob that matches no VM is a typo, not a silent no-op; so is a
	// check the flag parser never saw.
	for _, a := range []CheckAssignment{{VMs: "wbe*", Check: "tcp:22"}, {VMs: "web01", Check: "tcp:x"}} {
		if _, err := NewPlan(inv, Options{Checks: []CheckAssignment{a}}); err == nil || !strings.HasPrefix(err.Error(), "--check ") || !strings.Contains(err.Error(), a.VMs+"="+a.Check) {
			t.Errorf("%+v: %v", a, err)
		}
	}
}
