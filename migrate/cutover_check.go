package migrate

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/podvm-migrate/podvm-migrate/plan"
	"github.com/podvm-migrate/podvm-migrate/runrecord"
)

// CheckCutover says whether a cutover request for vms (none: every VM)
// can reach a warm migration: a 'migrate' must be running in runDir (it
// holds the run directory's lock), and each named VM must be in the run's
// plan and not already cut over or copied cold.
func CheckCutover(runDir string, vms []string) error {
	if _, err := os.Stat(filepath.Join(runDir, runrecord.JournalFile)); err != nil {
		return fmt.Errorf("%s is not a run directory (no %s): give the --run-dir of the running migrate", runDir, runrecord.JournalFile)
	}
	running, err := runDirLocked(runDir)
	if err != nil {
		return err
	}
	if !running {
		return fmt.Errorf("no migrate is running in %s: nothing to cut over (a cutover request reaches a 'migrate --warm' while it runs)", runDir)
	}
	if len(vms) == 0 {
		return nil
	}
	data, err := os.ReadFile(filepath.Join(runDir, runrecord.PlanFile))
	if err != nil {
		return fmt.Errorf("the run's plan: %w", err)
	}
	p, err := plan.UnmarshalPlan(data)
	if err != nil {
		return fmt.Errorf("the run's plan %s: %w", filepath.Join(runDir, runrecord.PlanFile), err)
	}
	events, err := runrecord.ReadJournal(runDir)
	if err != nil {
		return err
	}
	// Only the events of the migrate running now count.
	for i := len(events) - 1; i >= 0; i-- {
		if events[i].VM == "" && events[i].Phase == runrecord.PhaseRun && events[i].Result == runrecord.ResultStarted {
			events = events[i:]
			break
		}
	}
	var problems []string
	for _, name := range vms {
		vm, ok := p.VM(name)
		if !ok {
			problems = append(problems, fmt.Sprintf("%s is not in the run's plan (its VMs: %s)", name, vmNames(p)))
			continue
		}
		for _, e := range events {
			if e.VM != vm.Spec.Name {
				continue
			}
			if e.Phase == runrecord.PhaseCutover && e.Result == runrecord.ResultDone {
				problems = append(problems, name+" is already cut over")
				break
			}
			if e.Phase == runrecord.PhasePrecopy && e.Result == runrecord.ResultSkipped && strings.HasPrefix(e.Attrs["note"], "migrated cold") {
				problems = append(problems, fmt.Sprintf("%s is not migrated warm (%s): nothing to cut over", name, e.Attrs["note"]))
				break
			}
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// runDirLocked reports whether a migrate holds runDir's lock now.
func runDirLocked(runDir string) (bool, error) {
	f, err := os.Open(filepath.Join(runDir, lockFile))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("run directory lock: %w", err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return true, nil
		}
		return false, fmt.Errorf("run directory lock: %w", err)
	}
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return false, nil
}
