package reports

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/podvm-migrate/podvm-migrate/internal/atomicfile"
	"github.com/podvm-migrate/podvm-migrate/plan"
	"github.com/podvm-migrate/podvm-migrate/runrecord"
)

// Load builds the report of a run directory: its plan (if present) and its
// journal (if present); at least one of them must be there.
func Load(runDir string, now time.Time) (*Report, error) {
	var p *plan.Plan
	if b, err := os.ReadFile(filepath.Join(runDir, runrecord.PlanFile)); err == nil {
		if p, err = plan.UnmarshalPlan(b); err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(runDir, runrecord.PlanFile), err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("run directory: %w", err)
	}
	events, err := runrecord.ReadJournal(runDir)
	if err != nil && p == nil {
		return nil, err
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	return Build("podvm-migrate report: "+filepath.Base(filepath.Clean(runDir)), p, events, now), nil
}

// WriteHTMLFile renders the report of runDir as RUN_DIR/report.html.
func WriteHTMLFile(runDir string, now time.Time) error {
	rep, err := Load(runDir, now)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if err := Render(&b, rep, FormatHTML); err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(runDir, "report.html"), b.Bytes(), 0o644)
}
