package plan

import (
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/podvm-migrate/podvm-migrate/discover"
)

// TestRevalidateHandEditedStatus plans three VMs (one ready, one blocked by
// an RDM, one whose RDM was allowed), edits the plan the way a user would
// by hand, and reads it back: a status that its findings contradict must
// not let a blocked VM through.
func TestRevalidateHandEditedStatus(t *testing.T) {
	inv := discover.NewInventory()
	rdm := func(name string) discover.VM {
		vm := cleanVM(name)
		vm.Hardware.Disks[0].RDM = &discover.RDM{Compatibility: "physicalMode"}
		return vm
	}
	inv.VMs = []discover.VM{cleanVM("ok"), rdm("db01"), rdm("db02")}
	base, err := NewPlan(inv, Options{Allow: map[string][]string{"db02": {"rdm"}}})
	if err != nil {
		t.Fatal(err)
	}
	if st := []Status{base.VMs[0].Status, base.VMs[1].Status, base.VMs[2].Status}; st[0] != StatusReady || st[1] != StatusBlocked || st[2] != StatusWarning {
		t.Fatalf("statuses %v", st)
	}
	cases := []struct {
		name    string
		edit    func(p *Plan)
		wantErr string   // empty: accepted
		want    []Status // statuses after reading it back
	}{
		{"unchanged", func(*Plan) {}, "", []Status{StatusReady, StatusBlocked, StatusWarning}},
		{"blocked edited to ready", func(p *Plan) { p.VMs[1].Status = StatusReady },
			`vms[1] (db01): status "ready", but its critical finding rdm is not overridden`, nil},
		{"blocked edited to warning with overridden: true", func(p *Plan) {
			p.VMs[1].Status = StatusWarning
			for i := range p.VMs[1].Findings {
				p.VMs[1].Findings[i].Overridden = true
			}
		}, "re-plan with --allow db01:rdm", nil},
		{"recorded override removed", func(p *Plan) { p.VMs[2].Overrides = nil },
			`vms[2] (db02): status "warning", but its critical finding rdm is not overridden`, nil},
		{"override recorded by hand, status edited too", func(p *Plan) {
			p.VMs[1].Overrides, p.VMs[1].Status = []string{"rdm"}, StatusWarning
		}, "", []Status{StatusReady, StatusWarning, StatusWarning}},
		{"override recorded by hand, status left blocked", func(p *Plan) { p.VMs[1].Overrides = []string{"rdm"} },
			"", []Status{StatusReady, StatusBlocked, StatusWarning}},
		{"ready VM blocked by hand stays blocked", func(p *Plan) { p.VMs[0].Status = StatusBlocked },
			"", []Status{StatusBlocked, StatusBlocked, StatusWarning}},
		{"warning VM edited to ready gets warning back", func(p *Plan) { p.VMs[2].Status = StatusReady },
			"", []Status{StatusReady, StatusBlocked, StatusWarning}},
		{"unknown status", func(p *Plan) { p.VMs[0].Status = "Ready" }, `vms[0] (ok): status "Ready": want ready, warning or blocked`, nil},
		{"unknown override", func(p *Plan) { p.VMs[2].Overrides = []string{"rdmm"} }, `vms[2] (db02): overrides: "rdmm" is no rule`, nil},
		{"severity lowered to a typo", func(p *Plan) { p.VMs[1].Findings[0].Severity = "crit" }, `severity "crit"`, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := yaml.Marshal(base)
			if err != nil {
				t.Fatal(err)
			}
			var p Plan
			if err := yaml.Unmarshal(b, &p); err != nil {
				t.Fatal(err)
			}
			tc.edit(&p)
			if b, err = yaml.Marshal(&p); err != nil {
				t.Fatal(err)
			}
			back, err := UnmarshalPlan(b)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for i, want := range tc.want {
				if back.VMs[i].Status != want {
					t.Errorf("%s: status %s, want %s", back.VMs[i].Name, back.VMs[i].Status, want)
				}
			}
			if back.Summary.Blocked != countStatus(tc.want, StatusBlocked) {
				t.Errorf("summary %+v not recounted", back.Summary)
			}
		})
	}
}

func countStatus(st []Status, want Status) int {
	n := 0
	for _, s := range st {
		if s == want {
			n++
		}
	}
	return n
}
