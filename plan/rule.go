package plan

import (
	"fmt"

	"github.com/podvm-migrate/podvm-migrate/podvm"

	"github.com/podvm-migrate/podvm-migrate/discover"
)

// Severity of a compatibility finding.
type Severity string

// The severities: a critical finding blocks the VM unless allowed.
const (
	SeverityCritical Severity = "critical"
	SeverityWarning  Severity = "warning"
	SeverityInfo     Severity = "info"
)

func (s Severity) rank() int {
	switch s {
	case SeverityCritical:
		return 3
	case SeverityWarning:
		return 2
	case SeverityInfo:
		return 1
	}
	return 0
}

// Rule is one compatibility check, in the spirit of Forklift's validation
// concerns: an id, a severity, a category, what it checks and how to fix
// what it finds.
type Rule struct {
	ID          string   `json:"id"`
	Severity    Severity `json:"severity"`
	Category    string   `json:"category"`
	Checks      string   `json:"checks"`
	Remediation string   `json:"remediation"`
	// check returns one message per thing it found wrong; none when the VM
	// passes. The severity may be lowered per message with a ruleHit.
	check func(c *checkContext) []hit
}

// hit is one occurrence of a rule firing.
type hit struct {
	msg      string
	severity Severity // empty: the rule's severity
}

func fired(format string, a ...any) []hit { return []hit{{msg: fmt.Sprintf(format, a...)}} }

// checkContext is what a rule sees: the VM, its planned spec, the options,
// and plan-wide facts (for rules such as duplicate MACs).
type checkContext struct {
	vm      *discover.VM
	spec    *podvm.Spec
	opts    *Options
	macUses map[string]int // MAC -> number of NICs in the whole plan using it
}

// Check runs the rule on its own against vm planned with opts, for tests
// and for `plan rules --explain`.
func (r Rule) run(c *checkContext) []Finding {
	var out []Finding
	for _, h := range r.check(c) {
		sev := r.Severity
		if h.severity != "" {
			sev = h.severity
		}
		out = append(out, Finding{Rule: r.ID, Severity: sev, Category: r.Category, Message: h.msg, Remediation: r.Remediation})
	}
	return out
}

// Rules lists every compatibility rule, in the order they are reported.
func Rules() []Rule {
	var all []Rule
	all = append(all, hardwareRules()...)
	all = append(all, diskRules()...)
	all = append(all, networkRules()...)
	all = append(all, guestRules()...)
	all = append(all, placementRules()...)
	all = append(all, inventoryRules()...)
	all = append(all, checkRules()...)
	return all
}

// LookupRule finds a rule by id.
func LookupRule(id string) (Rule, bool) {
	for _, r := range Rules() {
		if r.ID == id {
			return r, true
		}
	}
	return Rule{}, false
}
