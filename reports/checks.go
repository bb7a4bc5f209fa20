package reports

import (
	"time"

	"github.com/podvm-migrate/podvm-migrate/runrecord"
)

// CheckResult is the last outcome of one post-migration check of a VM.
type CheckResult struct {
	VM       string        `json:"vm"`
	Check    string        `json:"check"`
	Outcome  string        `json:"outcome"` // passed | failed | skipped
	Target   string        `json:"target,omitempty"`
	Address  string        `json:"address,omitempty"`
	Detail   string        `json:"detail,omitempty"`
	Attempts int           `json:"attempts,omitempty"`
	Duration time.Duration `json:"durationNs,omitempty"`
}

// addCheck records a check event on its VM: a later outcome of the same
// check (a rerun) replaces the earlier one in place.
func addCheck(v *VMPerf, e runrecord.Event) {
	if e.Check == nil {
		return
	}
	c := CheckResult{VM: e.VM, Check: e.Check.Check, Outcome: e.Check.Outcome, Target: e.Check.Target, Address: e.Check.Address,
		Detail: e.Check.Detail, Attempts: e.Check.Attempts, Duration: e.Duration}
	for i := range v.Checks {
		if v.Checks[i].Check == c.Check {
			v.Checks[i] = c
			return
		}
	}
	v.Checks = append(v.Checks, c)
}

// Checks lists every VM's post-migration checks, VM by VM.
func (r *Report) Checks() []CheckResult {
	var out []CheckResult
	for _, v := range r.Performance.VMs {
		out = append(out, v.Checks...)
	}
	return out
}
