package plan_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/podvm-migrate/podvm-migrate/discover"
	"github.com/podvm-migrate/podvm-migrate/discover/vmx"
	"github.com/podvm-migrate/podvm-migrate/plan"
)

// TestOfflineFilesPlanned plans .vmx files of the discovery corpus (written
// as products write them: CRLF, windows-1252) and checks that what
// discovery could not trust reaches the plan as findings, without the copy.
func TestOfflineFilesPlanned(t *testing.T) {
	corpus := filepath.Join("..", "discover", "vmx", "testdata", "estate")
	cases := []struct {
		file   string
		status plan.Status
		rule   string   // the finding that must be there
		msg    []string // parts of its message
	}{
		{"escape/escape.vmx", plan.StatusBlocked, "disk-path-refused",
			[]string{`disk "scsi0:0" cannot be copied:`, "escape.vmdk: line 9: extent file", "/etc/passwd", "outside the descriptor's folder"}},
		{"escape/escape.vmx", plan.StatusBlocked, "disk-path-refused", []string{`disk "scsi0:1"`, "line 6: parentFileNameHint"}},
		{"memsize/bad-memsize.vmx", plan.StatusWarning, "memory-unknown", []string{"planned with 32 MiB"}},
		{"memsize/bad-memsize.vmx", plan.StatusWarning, "discovery-warnings", []string{`bad-memsize.vmx:7: memsize = "abc"`}},
		{"memsize/no-memsize.vmx", plan.StatusWarning, "memory-unknown", []string{"memory size unknown"}},
	}
	for _, c := range cases {
		t.Run(c.file+"/"+c.rule, func(t *testing.T) {
			vm, err := vmx.ReadFile(filepath.Join(corpus, c.file), vmx.Options{})
			if err != nil {
				t.Fatal(err)
			}
			inv := discover.NewInventory()
			inv.VMs = []discover.VM{vm}
			p, err := plan.NewPlan(inv, plan.Options{})
			if err != nil {
				t.Fatal(err)
			}
			pv := p.VMs[0]
			if pv.Status != c.status {
				t.Errorf("status %s, want %s; findings %+v", pv.Status, c.status, pv.Findings)
			}
			for _, f := range pv.Findings {
				if f.Rule != c.rule {
					continue
				}
				ok := true
				for _, m := range c.msg {
					ok = ok && strings.Contains(f.Message, m)
				}
				if ok {
					return
				}
			}
			t.Errorf("no %s finding with %q; findings %+v", c.rule, c.msg, pv.Findings)
		})
	}
}
