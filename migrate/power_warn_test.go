package migrate

import (
	"context"
	"testing"
	"time"

	"github.com/podvm-migrate/podvm-migrate/discover"
	"github.com/podvm-migrate/podvm-migrate/plan"
	"github.com/podvm-migrate/podvm-migrate/runrecord"
	"github.com/podvm-migrate/podvm-migrate/testenv/vcsim"
)

// TestColdCopyOfRunningSourceWarnsFromVSphere: the power state comes from
// vCenter (the simulator): a cold run warns about the source VM that runs,
// not about the one that was powered off.
func TestColdCopyOfRunningSourceWarnsFromVSphere(t *testing.T) {
	ctx := context.Background()
	_, cfg, conn := serveSimulator(t, vcsim.Options{VMs: 8, Dir: t.TempDir()})
	inv, pl := planSimulator(ctx, t, cfg)
	var on, off string
	for i, vm := range inv.VMs {
		if vm.State.Power != discover.PoweredOn || off != "" {
			continue
		}
		pl.VMs[i].Status = plan.StatusReady // the scripted stages copy nothing: findings do not matter here
		if on == "" {
			on = pl.VMs[i].Spec.Name
			continue
		}
		off = pl.VMs[i].Spec.Name
		if _, err := conn.PowerOff(ctx, pl.VMs[i].Spec.Source.Moref, time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if on == "" || off == "" {
		t.Fatalf("the simulator has no two powered-on VMs: %+v", pl.Summary)
	}
	s := newScripted()
	runDir := t.TempDir()
	r, err := NewRunner(pl, s, s, Options{RunDir: runDir, VMs: []string{on, off}, PowerState: SourcePowerState(conn)})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	events, _ := runrecord.ReadJournal(runDir)
	warned := map[string]bool{}
	for _, e := range events {
		if e.Result == runrecord.ResultWarning {
			warned[e.VM] = true
		}
	}
	if !warned[on] || warned[off] {
		t.Errorf("warned about %v; want %s (on) only, not %s (off)", warned, on, off)
	}
}
