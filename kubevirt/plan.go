package kubevirt

import (
	"fmt"
	"path"

	"github.com/podvm-migrate/podvm-migrate/plan"
	"github.com/podvm-migrate/podvm-migrate/podvm"
)

// PlanSelection says which VMs of a plan become KubeVirt objects.
type PlanSelection struct {
	VMs            []string // source or pod VM names or globs; empty: all
	IncludeBlocked bool     // also VMs the plan blocks
}

// Skipped is a VM of the plan that was left out, and why.
type Skipped struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// SelectSpecs picks the specs of a plan's VMs: the selected ones, without
// blocked VMs unless asked for.
func SelectSpecs(p *plan.Plan, sel PlanSelection) ([]podvm.Spec, []Skipped, error) {
	for _, g := range sel.VMs {
		if _, err := path.Match(g, ""); err != nil {
			return nil, nil, fmt.Errorf("vm %q: %w", g, err)
		}
	}
	var specs []podvm.Spec
	var skipped []Skipped
	matched := map[string]bool{}
	for _, vm := range p.VMs {
		if !selected(sel.VMs, vm, matched) {
			continue
		}
		if vm.Status == plan.StatusBlocked && !sel.IncludeBlocked {
			skipped = append(skipped, Skipped{Name: vm.Name, Reason: "blocked by the plan (fix it or override with plan --allow)"})
			continue
		}
		specs = append(specs, vm.Spec)
	}
	for _, g := range sel.VMs {
		if !matched[g] {
			return nil, nil, fmt.Errorf("vm %q: no VM of the plan matches", g)
		}
	}
	return specs, skipped, nil
}

func selected(globs []string, vm plan.PlannedVM, matched map[string]bool) bool {
	if len(globs) == 0 {
		return true
	}
	ok := false
	for _, g := range globs {
		for _, name := range []string{vm.Name, vm.Spec.Name} {
			if m, _ := path.Match(g, name); m {
				matched[g] = true
				ok = true
			}
		}
	}
	return ok
}
