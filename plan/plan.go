// Package plan turns an inventory into a plan: one pod VM spec per VM,
// the network and storage mappings applied, and the findings of every
// compatibility rule (id, severity, category, remediation). A critical
// finding blocks its VM unless the plan allows it for that VM.
package plan

import (
	"fmt"
	"os"
	"sort"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/podvm-migrate/podvm-migrate/checks"
	"github.com/podvm-migrate/podvm-migrate/podvm"
)

// The plan document header.
const (
	PlanAPIVersion = "podvm-migrate/v1"
	KindPlan       = "Plan"
)

// Status of one VM in a plan.
type Status string

// The statuses: ready (no finding above info), warning, blocked (a critical
// finding that was not overridden).
const (
	StatusReady   Status = "ready"
	StatusWarning Status = "warning"
	StatusBlocked Status = "blocked"
)

// Plan is the versioned document planning writes and conversion, the
// runtime and KubeVirt read: one pod VM spec per VM, the mappings used and
// the findings of every compatibility rule.
type Plan struct {
	APIVersion string       `json:"apiVersion"`
	Kind       string       `json:"kind"`
	Generated  time.Time    `json:"generated"`
	Inventory  string       `json:"inventory,omitempty"` // the inventory file it was planned from
	Target     Target       `json:"target"`
	Mappings   Mappings     `json:"mappings"`
	VMs        []PlannedVM  `json:"vms"`
	Summary    *PlanSummary `json:"summary,omitempty"`
}

// Target is what the platform the pod VMs will run on allows.
type Target struct {
	MaxVCPUs           int   `json:"maxVCPUs"`
	MaxMemoryMiB       int64 `json:"maxMemoryMiB"`
	SecureBootFirmware bool  `json:"secureBootFirmware"` // OVMF with secure boot (and SMM) is available
}

// DefaultTarget is what a q35 QEMU/KVM pod VM allows, with secure boot.
func DefaultTarget() Target {
	return Target{MaxVCPUs: 288, MaxMemoryMiB: 1 << 20, SecureBootFirmware: true}
}

// PlannedVM is one VM's part of the plan.
type PlannedVM struct {
	Name      string     `json:"name"`                // the VM's name in the source
	Status    Status     `json:"status"`              // ready, warning or blocked
	Spec      podvm.Spec `json:"spec"`                // the pod VM it becomes
	Findings  []Finding  `json:"findings,omitempty"`  // every rule that fired, most severe first
	Overrides []string   `json:"overrides,omitempty"` // critical rule ids allowed for this VM (--allow)
	// Checks run against the pod VM once it is ready (tcp:PORT, ping,
	// http(s)://…[=STATUS]); a failed one fails the VM's migration.
	Checks []string `json:"checks,omitempty"`
}

// Finding is one compatibility rule that fired for a VM.
type Finding struct {
	Rule        string   `json:"id"`
	Severity    Severity `json:"severity"`
	Category    string   `json:"category"`
	Message     string   `json:"message"`
	Remediation string   `json:"remediation"`
	Overridden  bool     `json:"overridden,omitempty"` // a critical finding allowed with --allow
}

// PlanSummary counts VMs by status and findings by rule.
type PlanSummary struct {
	VMs     int         `json:"vms"`
	Ready   int         `json:"ready"`
	Warning int         `json:"warning"`
	Blocked int         `json:"blocked"`
	Rules   []RuleCount `json:"rules,omitempty"` // most frequent first
}

// RuleCount is how many VMs a rule fired for.
type RuleCount struct {
	Rule     string   `json:"id"`
	Severity Severity `json:"severity"`
	VMs      int      `json:"vms"`
}

// Summarize counts the plan's VMs and findings.
func (p *Plan) Summarize() *PlanSummary {
	s := &PlanSummary{VMs: len(p.VMs)}
	counts := map[string]*RuleCount{}
	for _, vm := range p.VMs {
		switch vm.Status {
		case StatusReady:
			s.Ready++
		case StatusWarning:
			s.Warning++
		case StatusBlocked:
			s.Blocked++
		}
		seen := map[string]bool{}
		for _, f := range vm.Findings {
			if seen[f.Rule] {
				continue
			}
			seen[f.Rule] = true
			if counts[f.Rule] == nil {
				counts[f.Rule] = &RuleCount{Rule: f.Rule, Severity: f.Severity}
			}
			counts[f.Rule].VMs++
		}
	}
	for _, c := range counts {
		s.Rules = append(s.Rules, *c)
	}
	sort.Slice(s.Rules, func(i, j int) bool {
		a, b := s.Rules[i], s.Rules[j]
		if a.Severity.rank() != b.Severity.rank() {
			return a.Severity.rank() > b.Severity.rank()
		}
		if a.VMs != b.VMs {
			return a.VMs > b.VMs
		}
		return a.Rule < b.Rule
	})
	return s
}

// VM returns the planned VM with the given source or pod VM name.
func (p *Plan) VM(name string) (*PlannedVM, bool) {
	for i := range p.VMs {
		if p.VMs[i].Name == name || p.VMs[i].Spec.Name == name {
			return &p.VMs[i], true
		}
	}
	return nil, false
}

// UnmarshalPlan reads a plan in YAML or JSON, checks its header and every
// spec, and recomputes each VM's status from its findings (see Revalidate).
// A key that is not a field (letter case counts), a key given twice or a
// value of the wrong kind is a *DocError naming the line, the VM and the
// field; callers add the file name.
func UnmarshalPlan(data []byte) (*Plan, error) {
	var p Plan
	if err := checkDoc(data, &p); err != nil {
		return nil, err
	}
	if err := yaml.UnmarshalStrict(data, &p); err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	if p.APIVersion != PlanAPIVersion || p.Kind != KindPlan {
		return nil, fmt.Errorf("plan: apiVersion %q kind %q: want %s %s", p.APIVersion, p.Kind, PlanAPIVersion, KindPlan)
	}
	names := map[string]int{}
	for i := range p.VMs {
		if err := p.VMs[i].Spec.Validate(); err != nil {
			return nil, fmt.Errorf("plan: vms[%d]: %w", i, err)
		}
		if _, err := checks.ParseAll(p.VMs[i].Checks); err != nil {
			return nil, fmt.Errorf("plan: vms[%d] (%s).%w", i, p.VMs[i].Name, err)
		}
		n := p.VMs[i].Spec.Name
		if j, dup := names[n]; dup {
			return nil, fmt.Errorf("plan: vms[%d].spec.name %q: also vms[%d]'s; pod VM names must be unique", i, n, j)
		}
		names[n] = i
	}
	if err := p.Revalidate(); err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	return &p, nil
}

// secureBootFirmware lists where distributions install OVMF built with
// secure boot and SMM.
var secureBootFirmware = []string{
	"/usr/share/OVMF/OVMF_CODE_4M.secboot.fd",
	"/usr/share/OVMF/OVMF_CODE.secboot.fd",
	"/usr/share/edk2/ovmf/OVMF_CODE.secboot.fd",
}

// HostSecureBootFirmware returns the path of this host's OVMF secure-boot
// firmware, or "" when it has none.
func HostSecureBootFirmware() string {
	for _, p := range secureBootFirmware {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}
