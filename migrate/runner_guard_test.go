package migrate

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/podvm-migrate/podvm-migrate/plan"
	"github.com/podvm-migrate/podvm-migrate/runrecord"
	"github.com/podvm-migrate/podvm-migrate/runtime"
)

// TestMigrateKeepsAnotherRunsPodVM: a second run (another run directory)
// of a VM whose pod VM the first run started leaves that pod VM running
// and fails the VM naming it and the run it came from; --replace replaces
// it; a rerun of the first run's own directory still resumes.
func TestMigrateKeepsAnotherRunsPodVM(t *testing.T) {
	e := newE2E(t)
	e.plan.VMs = e.plan.VMs[:1] // mig-sparse
	name := e.plan.VMs[0].Spec.Name
	ctx := context.Background()
	first := filepath.Join(e.dir, "run1")
	if res, err := e.run(ctx, t, first); err != nil || res[0].Status != StatusReady {
		t.Fatalf("first run: %+v %v", res, err)
	}
	before, err := e.rt.Get(ctx, name)
	if err != nil {
		t.Fatal(err)
	}

	second := filepath.Join(e.dir, "run2")
	res, err := e.run(ctx, t, second)
	if err == nil || len(res) != 1 || res[0].Status != runrecord.ResultFailed {
		t.Fatalf("second run: %+v %v; want the VM failed", res, err)
	}
	for _, want := range []string{"pod VM " + name + " already exists (running", "run directory " + first, "--replace"} {
		if !strings.Contains(res[0].Error, want) {
			t.Errorf("second run's error %q lacks %q", res[0].Error, want)
		}
	}
	after, err := e.rt.Get(ctx, name)
	if err != nil || after.State != runtime.StateRunning || !after.Started.Equal(before.Started) || after.Image != before.Image {
		t.Errorf("the first run's pod VM did not stay: before %+v, after %+v %v", before, after, err)
	}
	// Refused before its disks were copied.
	events, _ := runrecord.ReadJournal(second)
	for _, ev := range events {
		if ev.Phase == runrecord.PhaseTransfer {
			t.Errorf("the refused run copied a disk: %+v", ev)
		}
	}

	// The first run's own directory: the pod VM is its own, skipped.
	if res, err := e.run(ctx, t, first); err != nil || res[0].Status != StatusReady {
		t.Fatalf("rerun of the first run: %+v %v", res, err)
	}
	if p, err := e.rt.Get(ctx, name); err != nil || !p.Started.Equal(before.Started) {
		t.Errorf("the rerun of the same run directory replaced its ready pod VM: %+v %v", p, err)
	}

	// --replace: the second run's pod VM takes the name.
	res, err = e.runTarget(ctx, t, second, func(rt *RuntimeTarget) Target { rt.Replace = true; return rt })
	if err != nil || res[0].Status != StatusReady {
		t.Fatalf("second run with --replace: %+v %v", res, err)
	}
	if p, err := e.rt.Get(ctx, name); err != nil || !sameLayout(p.Image, "oci:"+filepath.Join(second, "images", name)+":latest") {
		t.Errorf("after --replace the pod VM runs %+v %v; want the second run's image", p, err)
	}
}

// bootWatcher is the runtime target with a hook that runs once the pod VM's
// domain runs, while the runner still waits for readiness.
type bootWatcher struct {
	*RuntimeTarget
	running func()
}

func (b bootWatcher) Boot(ctx context.Context, vm *plan.PlannedVM, ref string) (*BootResult, error) {
	go func() {
		for ctx.Err() == nil {
			if p, err := b.Runtime.Get(context.WithoutCancel(ctx), vm.Spec.Name); err == nil && p.State == runtime.StateRunning {
				b.running()
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	return b.RuntimeTarget.Boot(ctx, vm, ref)
}

// TestMigrateInterruptedDuringBoot: Ctrl-C while a pod VM boots reports it
// interrupted (not failed), says it was left running, and a rerun resumes.
func TestMigrateInterruptedDuringBoot(t *testing.T) {
	e := newE2E(t)
	e.plan.VMs = e.plan.VMs[:1]
	name := e.plan.VMs[0].Spec.Name
	runDir := filepath.Join(e.dir, "run")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res, err := e.runTarget(ctx, t, runDir, func(rt *RuntimeTarget) Target {
		rt.Ready = 10 * time.Minute // never the readiness wait's own timeout
		return bootWatcher{RuntimeTarget: rt, running: cancel}
	})
	if err == nil || !strings.Contains(err.Error(), "interrupted") || strings.Contains(err.Error(), "context canceled") {
		t.Errorf("run error %v; want interrupted", err)
	}
	if len(res) != 1 || res[0].Status != StatusInterrupted {
		t.Fatalf("results %+v; want %s interrupted", res, name)
	}
	for _, want := range []string{"interrupted during boot", "pod VM " + name + " left running", "rm -f " + name} {
		if !strings.Contains(res[0].Error, want) {
			t.Errorf("result error %q lacks %q", res[0].Error, want)
		}
	}
	if strings.Contains(res[0].Error, "context canceled") {
		t.Errorf("result error %q", res[0].Error)
	}
	if p, err := e.rt.Get(context.Background(), name); err != nil || p.State != runtime.StateRunning {
		t.Errorf("the pod VM said to be left running: %+v %v", p, err)
	}
	events, _ := runrecord.ReadJournal(runDir)
	var last runrecord.Event
	for _, ev := range events {
		if ev.VM == name {
			last = ev
		}
	}
	if last.Result != runrecord.ResultInterrupted {
		t.Errorf("the journal's last event of %s: %+v; want interrupted", name, last)
	}
	if res, err := e.run(context.Background(), t, runDir); err != nil || res[0].Status != StatusReady {
		t.Errorf("rerun: %+v %v", res, err)
	}
}
