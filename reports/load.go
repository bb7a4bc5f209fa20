package reports

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/podvm-migrate/podvm-migrate/migrate"
	"github.com/podvm-migrate/podvm-migrate/podvm"
)

// PlanFile is the plan's name inside a run directory: migrate copies the
// plan it ran there.
const PlanFile = "plan.yaml"

// Load builds the report of a run directory: its plan (if present) and its
// journal (if present); at least one of them must be there.
func Load(runDir string, now time.Time) (*Report, error) {
	var plan *podvm.Plan
	if b, err := os.ReadFile(filepath.Join(runDir, PlanFile)); err == nil {
		if plan, err = podvm.UnmarshalPlan(b); err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(runDir, PlanFile), err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("run directory: %w", err)
	}
	events, err := migrate.ReadJournal(runDir)
	if err != nil && plan == nil {
		return nil, err
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	return Build("podvm-migrate report: "+filepath.Base(filepath.Clean(runDir)), plan, events, now), nil
}
