package plan

import (
	"fmt"
	"slices"
	"strings"
)

// Revalidate recomputes every VM's status from its findings and the
// overrides recorded for it, so a plan edited by hand cannot move a VM that
// its findings block: a critical finding counts as allowed only when its
// rule is in the VM's overrides (what --allow recorded), whatever its
// "overridden" field says. A VM whose status says ready or warning while a
// critical finding blocks it is an error naming the VM and the finding. A
// VM marked blocked by hand stays blocked. The summary is recounted.
func (p *Plan) Revalidate() error {
	for i := range p.VMs {
		vm := &p.VMs[i]
		at := fmt.Sprintf("vms[%d] (%s)", i, vm.Name)
		switch vm.Status {
		case StatusReady, StatusWarning, StatusBlocked:
		default:
			return fmt.Errorf("%s: status %q: want ready, warning or blocked", at, vm.Status)
		}
		for _, id := range vm.Overrides {
			if _, ok := LookupRule(id); !ok {
				return fmt.Errorf("%s: overrides: %q is no rule (see 'podvm-migrate plan rules')", at, id)
			}
		}
		var blocking *Finding
		for j := range vm.Findings {
			f := &vm.Findings[j]
			if f.Severity.rank() == 0 {
				return fmt.Errorf("%s: findings[%d] (%s): severity %q: want critical, warning or info", at, j, f.Rule, f.Severity)
			}
			f.Overridden = f.Severity == SeverityCritical && slices.Contains(vm.Overrides, f.Rule)
			if f.Severity == SeverityCritical && !f.Overridden && blocking == nil {
				blocking = f
			}
		}
		computed := statusOf(vm.Findings)
		switch {
		case computed == StatusBlocked && vm.Status != StatusBlocked:
			return fmt.Errorf("%s: status %q, but its critical finding %s is not overridden (%s): the VM is blocked; "+
				"re-plan with --allow %s:%s to migrate it anyway, or set its status back to blocked",
				at, vm.Status, blocking.Rule, strings.TrimSuffix(blocking.Message, "."), vm.Name, blocking.Rule)
		case vm.Status != StatusBlocked:
			vm.Status = computed
		}
	}
	p.Summary = p.Summarize()
	return nil
}
