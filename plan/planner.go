package plan

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/podvm-migrate/podvm-migrate/podvm"

	"github.com/podvm-migrate/podvm-migrate/discover"
)

// Options steer planning.
type Options struct {
	Mappings  Mappings            // network and storage maps; empty maps default everything to the pod network and default storage
	Target    *Target             // what the target allows; nil: DefaultTarget
	VMs       []string            // plan only these VMs (names or globs); empty: all
	Allow     map[string][]string // VM name ("*" for all) -> critical rule ids to override
	Inventory string              // inventory file name, recorded in the plan
	Checks    []CheckAssignment   // post-migration checks per VM glob (--check)
	Now       func() time.Time    // clock, for tests; default time.Now
}

// NewPlan plans every selected VM of inv: a pod VM spec, the findings of
// every rule, and a status. It fails only on bad options, never on a VM: a
// VM that cannot move is planned as blocked with the reasons.
func NewPlan(inv *discover.Inventory, o Options) (*Plan, error) {
	if err := inv.Validate(); err != nil {
		return nil, err
	}
	if o.Target == nil {
		t := DefaultTarget()
		o.Target = &t
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	for vm, ids := range o.Allow {
		if g, err := Glob(vm); err != nil {
			return nil, fmt.Errorf("--allow %s: %w", vm, err)
		} else if !anyMatch(inv.VMs, vm, g) {
			return nil, fmt.Errorf("--allow %s:…: no VM of that name in the inventory", vm)
		}
		for _, id := range ids {
			r, ok := LookupRule(id)
			if !ok {
				return nil, fmt.Errorf("--allow %s:%s: no such rule (see 'podvm-migrate plan rules')", vm, id)
			}
			if r.Severity != SeverityCritical {
				return nil, fmt.Errorf("--allow %s:%s: only critical rules block a VM; %s is %s", vm, id, id, r.Severity)
			}
		}
	}
	for _, a := range o.Checks {
		if _, err := ParseCheckAssignment(a.VMs + "=" + a.Check); err != nil {
			return nil, fmt.Errorf("--check %w", err)
		}
		if g, _ := Glob(a.VMs); !anyMatch(inv.VMs, a.VMs, g) {
			return nil, fmt.Errorf("--check %s=%s: no VM of that name in the inventory", a.VMs, a.Check)
		}
	}
	if len(o.Mappings.Network) == 0 {
		o.Mappings.Network = []Mapping{{Source: "*", Target: PodNetwork}}
	}
	if len(o.Mappings.Storage) == 0 {
		o.Mappings.Storage = []Mapping{{Source: "*", Target: "default"}}
	}
	sortMappings(o.Mappings.Network)
	sortMappings(o.Mappings.Storage)

	selected, err := selectVMs(inv.VMs, o.VMs)
	if err != nil {
		return nil, err
	}
	p := &Plan{APIVersion: PlanAPIVersion, Kind: KindPlan, Generated: o.Now().UTC().Truncate(time.Second),
		Inventory: o.Inventory, Target: *o.Target, Mappings: o.Mappings, VMs: []PlannedVM{}}

	macUses := map[string]int{}
	for _, vm := range selected {
		for _, n := range vm.Hardware.NICs {
			if n.MAC != "" {
				macUses[strings.ToLower(n.MAC)]++
			}
		}
	}
	names := map[string]int{}
	rules := Rules()
	for _, vm := range selected {
		spec := specFor(vm, &o, names)
		c := &checkContext{vm: vm, spec: &spec, opts: &o, macUses: macUses}
		pv := PlannedVM{Name: vm.Name, Spec: spec, Checks: checksFor(o.Checks, vm.Name)}
		allowed := allowedFor(o.Allow, vm.Name)
		for _, r := range rules {
			for _, f := range r.run(c) {
				if f.Severity == SeverityCritical && allowed[f.Rule] {
					f.Overridden = true
				}
				pv.Findings = append(pv.Findings, f)
			}
		}
		for id := range allowed {
			pv.Overrides = append(pv.Overrides, id)
		}
		sort.Strings(pv.Overrides)
		sort.SliceStable(pv.Findings, func(i, j int) bool {
			return pv.Findings[i].Severity.rank() > pv.Findings[j].Severity.rank()
		})
		pv.Status = statusOf(pv.Findings)
		p.VMs = append(p.VMs, pv)
	}
	p.Summary = p.Summarize()
	return p, nil
}

func statusOf(fs []Finding) Status {
	st := StatusReady
	for _, f := range fs {
		switch {
		case f.Severity == SeverityCritical && !f.Overridden:
			return StatusBlocked
		case f.Severity == SeverityWarning || f.Severity == SeverityCritical:
			st = StatusWarning
		}
	}
	return st
}

func allowedFor(allow map[string][]string, vm string) map[string]bool {
	out := map[string]bool{}
	for pattern, ids := range allow {
		if g, err := Glob(pattern); pattern == vm || err == nil && g.MatchString(vm) {
			for _, id := range ids {
				out[id] = true
			}
		}
	}
	return out
}

// selectVMs keeps the VMs named (or matched by a glob) in want, and fails
// for a name that matches nothing, so a typo is not a silent no-op.
func selectVMs(vms []discover.VM, want []string) ([]*discover.VM, error) {
	var out []*discover.VM
	if len(want) == 0 {
		for i := range vms {
			out = append(out, &vms[i])
		}
		return out, nil
	}
	used := make([]bool, len(want))
	for i := range vms {
		for j, w := range want {
			if g, err := Glob(w); err != nil {
				return nil, fmt.Errorf("--vm %q: %w", w, err)
			} else if w == vms[i].Name || g.MatchString(vms[i].Name) {
				out = append(out, &vms[i])
				used[j] = true
				break
			}
		}
	}
	for j, w := range want {
		if !used[j] {
			return nil, fmt.Errorf("--vm %q: no VM of that name in the inventory", w)
		}
	}
	return out, nil
}

// specFor maps a discovered VM onto the pod VM it becomes.
func specFor(vm *discover.VM, o *Options, names map[string]int) podvm.Spec {
	gos := LookupGuestOS(vm.Guest.GuestID)
	hw := vm.Hardware
	cores := max(hw.CoresPerSocket, 1)
	sockets := hw.Sockets
	if sockets < 1 {
		sockets = max(hw.CPUs/cores, 1)
	}
	s := podvm.Spec{
		Name: uniqueName(DNSName(vm.Name), names),
		Source: podvm.SourceRef{VCenter: endpointHost(vm.Source.Endpoint), Moref: vm.Identity.MoRef, Host: vm.Identity.Host, Datacenter: vm.Identity.Datacenter, InstanceUUID: vm.Identity.InstanceUUID,
			BIOSUUID: vm.Identity.BIOSUUID, Name: vm.Name, File: vm.Source.Path},
		Guest:       podvm.Guest{OSID: vm.Guest.GuestID, Family: gos.Family, FullName: vm.Guest.FullName, Hostname: vm.Guest.Hostname},
		Firmware:    podvm.Firmware{Type: podvm.FirmwareBIOS},
		TPM:         hw.VTPM,
		CPU:         podvm.CPU{Sockets: sockets, Cores: cores, Threads: 1},
		MemoryMiB:   max(hw.MemoryMiB, 16),
		MachineType: "q35",
		Mode:        gos.Mode,
	}
	if hw.Firmware == discover.FirmwareEFI {
		s.Firmware = podvm.Firmware{Type: podvm.FirmwareEFI, SecureBoot: hw.SecureBoot, SMM: hw.SecureBoot}
	}
	for i, d := range hw.Disks {
		sc, _ := lookup(o.Mappings.Storage, d.Datastore)
		s.Disks = append(s.Disks, podvm.Disk{Name: fmt.Sprintf("disk%d", i), Bus: podvm.DiskBus(s.Mode), CapacityBytes: max(d.CapacityBytes, 0),
			Source: d.File, File: fmt.Sprintf("disk%d.qcow2", i), StorageClass: sc})
	}
	for i, n := range hw.NICs {
		target, _ := lookup(o.Mappings.Network, n.Network)
		s.NICs = append(s.NICs, podvm.NIC{Name: fmt.Sprintf("nic%d", i), Model: podvm.NICModel(s.Mode), MAC: strings.ToLower(n.MAC), Network: target})
	}
	return s
}

var notDNS = regexp.MustCompile(`[^a-z0-9-]+`)

// DNSName turns a VM name into a DNS-1123 label: lower case, runs of other
// characters become '-', trimmed to 63 characters; "vm" when nothing is left.
func DNSName(name string) string {
	s := notDNS.ReplaceAllString(strings.ToLower(name), "-")
	s = strings.Trim(s, "-")
	if len(s) > 63 {
		s = strings.TrimRight(s[:63], "-")
	}
	if s == "" {
		s = "vm"
	}
	return s
}

// uniqueName appends -2, -3, … to a name already taken in this plan.
func uniqueName(name string, taken map[string]int) string {
	taken[name]++
	if taken[name] == 1 {
		return name
	}
	for n := taken[name]; ; n++ {
		suffix := fmt.Sprintf("-%d", n)
		cand := name
		if len(cand)+len(suffix) > 63 {
			cand = strings.TrimRight(cand[:63-len(suffix)], "-")
		}
		cand += suffix
		if taken[cand] == 0 {
			taken[cand] = 1
			return cand
		}
	}
}

func endpointHost(endpoint string) string {
	s := strings.TrimPrefix(strings.TrimPrefix(endpoint, "https://"), "http://")
	if i := strings.IndexAny(s, "/"); i >= 0 {
		s = s[:i]
	}
	return s
}

func anyMatch(vms []discover.VM, name string, g *regexp.Regexp) bool {
	for _, vm := range vms {
		if vm.Name == name || g.MatchString(vm.Name) {
			return true
		}
	}
	return false
}
