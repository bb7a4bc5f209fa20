package migrate

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/podvm-migrate/podvm-migrate/plan"
	"github.com/podvm-migrate/podvm-migrate/runrecord"
	"github.com/podvm-migrate/podvm-migrate/vsphere"
)

// stopped ends a VM whose run was stopped before it was ready: by the user
// (Ctrl-C: interrupted, not failed) or by a journal that cannot be written
// (failed). It says whether its pod VM was left running.
func (r *Runner) stopped(ctx context.Context, vm *plan.PlannedVM, phase string, res VMResult) VMResult {
	name := vm.Spec.Name
	if jerr := r.journalErr(); jerr != nil {
		res.Status, res.Error = runrecord.ResultFailed, "not finished: the run stopped because its record cannot be written"
		return res
	}
	res.Status = StatusInterrupted
	switch phase {
	case "":
		res.Error = "interrupted before it started"
	case runrecord.PhaseBoot, runrecord.PhaseReady:
		res.Error = "interrupted during " + phase
		// The context is done: ask with a short one of its own.
		check, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		running := r.target.Running(check, vm)
		cancel()
		if running {
			res.Error += fmt.Sprintf("; pod VM %s left running: rerun to resume", name)
			if h, ok := r.target.(interface{ removeHint(string) string }); ok {
				res.Error += ", or remove it with " + h.removeHint(name)
			}
		}
	default:
		res.Error = "interrupted during " + phase
	}
	if phase != "" {
		r.emit(runrecord.Event{VM: name, Phase: phase, Result: runrecord.ResultInterrupted, Error: res.Error})
	}
	return res
}

// warnPoweredOn records a warning when vm's source runs while its disks
// are copied cold (no --source-power-off, not warm): the copy is
// crash-inconsistent.
func (r *Runner) warnPoweredOn(ctx context.Context, vm *plan.PlannedVM) {
	if r.o.PowerState == nil {
		return
	}
	copying := false // a rerun that verifies and skips every disk copies nothing
	for _, d := range vm.Spec.Disks {
		if _, done := r.done[key(vm.Spec.Name, d.Name, runrecord.PhaseTransfer)]; !done {
			copying = true
		}
	}
	if !copying {
		return
	}
	state, err := r.o.PowerState(ctx, vm)
	if err != nil || state != "poweredOn" {
		return
	}
	r.emit(runrecord.Event{VM: vm.Spec.Name, Phase: runrecord.PhaseQuiesce, Result: runrecord.ResultWarning, Attrs: map[string]string{
		"note": "the source VM is powered on: a cold copy is crash-inconsistent; use --source-power-off or --warm"}})
}

// checkSpace refuses to start a run whose directory has no room left for
// its journal, before anything is copied.
func (r *Runner) checkSpace(vms []*plan.PlannedVM) error {
	var st syscall.Statfs_t
	if err := syscall.Statfs(r.o.RunDir, &st); err != nil {
		return nil // no answer: the journal's own errors will tell
	}
	free := int64(st.Bavail) * int64(st.Bsize)
	if free < minFreeBytes {
		return fmt.Errorf("run directory %s: only %s free, the run needs at least %s for its record before any disk of its %d VMs is copied: free space there or use another --run-dir",
			r.o.RunDir, mib(free), mib(minFreeBytes), len(vms))
	}
	return nil
}

// spaceWarning says when the capacity of the disks this run still has to
// copy exceeds the free space of its run directory ("" otherwise): thin
// disks take less than their capacity, so it warns rather than refuses.
func (r *Runner) spaceWarning(vms []*plan.PlannedVM) string {
	var st syscall.Statfs_t
	if err := syscall.Statfs(r.o.RunDir, &st); err != nil {
		return ""
	}
	free := int64(st.Bavail) * int64(st.Bsize)
	var need int64
	for _, vm := range vms {
		for _, d := range vm.Spec.Disks {
			if _, done := r.done[key(vm.Spec.Name, d.Name, runrecord.PhaseTransfer)]; !done {
				need += d.CapacityBytes
			}
		}
	}
	if need <= free {
		return ""
	}
	return fmt.Sprintf("the disks still to copy have %s of capacity and %s is free in %s: thin disks take less, but the run may run out of space", gib(need), gib(free), r.o.RunDir)
}

func gib(n int64) string { return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30)) }

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// journalAdvice says what to do about a journal write that failed.
func journalAdvice(err error, runDir string) string {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return "free space in " + runDir + ", then rerun the same command"
	}
	return "fix the run directory " + runDir + ", then rerun the same command"
}

// SourcePowerState asks vSphere for a source VM's power state, for
// Options.PowerState; "" for a VM not on vSphere.
func SourcePowerState(conn *vsphere.Conn) func(ctx context.Context, vm *plan.PlannedVM) (string, error) {
	return func(ctx context.Context, pvm *plan.PlannedVM) (string, error) {
		if pvm.Spec.Source.Moref == "" {
			return "", nil
		}
		state, err := conn.PowerState(ctx, pvm.Spec.Source.Moref)
		if err != nil {
			return "", fmt.Errorf("source VM %s: %w", pvm.Name, err)
		}
		return string(state), nil
	}
}
