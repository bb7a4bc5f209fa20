package plan

import (
	"fmt"
	"strings"

	"github.com/podvm-migrate/podvm-migrate/checks"
)

// CheckAssignment gives VMs a post-migration check at plan time
// (--check VMGLOB=CHECK).
type CheckAssignment struct {
	VMs   string // a VM name or glob
	Check string // tcp:PORT, ping, http(s)://…[=STATUS]
}

// ParseCheckAssignment reads VMGLOB=CHECK, e.g. 'web*=tcp:22' or
// '*=http://:8080/health=200'. The first '=' ends the glob.
func ParseCheckAssignment(s string) (CheckAssignment, error) {
	vms, check, ok := strings.Cut(s, "=")
	if !ok || strings.TrimSpace(vms) == "" {
		return CheckAssignment{}, fmt.Errorf("%q: want VMGLOB=CHECK, CHECK one of %s", s, checks.Syntax)
	}
	if _, err := Glob(vms); err != nil {
		return CheckAssignment{}, fmt.Errorf("%q: %w", s, err)
	}
	c, err := checks.Parse(check)
	if err != nil {
		return CheckAssignment{}, fmt.Errorf("%q: %w", s, err)
	}
	return CheckAssignment{VMs: vms, Check: c.String()}, nil
}

// checksFor lists the checks the assignments give a VM, in order, each once.
func checksFor(as []CheckAssignment, vm string) []string {
	var out []string
	seen := map[string]bool{}
	for _, a := range as {
		if g, err := Glob(a.VMs); (a.VMs == vm || err == nil && g.MatchString(vm)) && !seen[a.Check] {
			seen[a.Check] = true
			out = append(out, a.Check)
		}
	}
	return out
}

// ParsedChecks returns the VM's checks, parsed; a plan that loaded has
// only valid ones.
func (vm *PlannedVM) ParsedChecks() ([]checks.Check, error) {
	cs, err := checks.ParseAll(vm.Checks)
	if err != nil {
		return nil, fmt.Errorf("VM %s: %w", vm.Name, err)
	}
	return cs, nil
}
