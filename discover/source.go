package discover

import (
	"context"
	"fmt"
	"path"
	"strconv"
	"strings"
)

// Source finds VMs: a vCenter or ESXi endpoint, or a set of offline files.
type Source interface {
	// String names the source for messages and Inventory.Sources, without
	// credentials.
	String() string
	// Discover returns the VMs that pass the filter, reporting progress
	// (done of total VMs; total 0 when unknown) through opts.Progress.
	Discover(ctx context.Context, opts Options) ([]VM, error)
}

// Options tune one discovery.
type Options struct {
	Filter   Filter
	Progress func(done, total int) // may be nil; called from one goroutine at a time
}

// Filter selects VMs. Empty fields select everything.
type Filter struct {
	Datacenter string     // datacenter name (vSphere)
	Folder     string     // inventory path of a folder; VMs in it and below (vSphere)
	Name       string     // glob on the VM name (path.Match syntax)
	PowerState PowerState // poweredOn, poweredOff or suspended
}

// Validate checks the glob and the power state.
func (f Filter) Validate() error {
	if f.Name != "" {
		if _, err := path.Match(f.Name, ""); err != nil {
			return fmt.Errorf("name filter %q: %w", f.Name, err)
		}
	}
	switch f.PowerState {
	case "", PoweredOn, PoweredOff, Suspended:
	default:
		return fmt.Errorf("power state %q: want poweredOn, poweredOff or suspended", f.PowerState)
	}
	return nil
}

// String names the filter as the command-line flags that set it, e.g.
// "--name 'web-*' --power-state poweredOn"; empty when it selects everything.
func (f Filter) String() string {
	var parts []string
	for _, p := range []struct{ flag, v string }{
		{"--datacenter", f.Datacenter}, {"--folder", f.Folder}, {"--name", f.Name}, {"--power-state", string(f.PowerState)},
	} {
		if p.v != "" {
			parts = append(parts, p.flag+" "+strconv.Quote(p.v))
		}
	}
	return strings.Join(parts, " ")
}

// ParsePowerState accepts vSphere's names and the short forms on, off and
// suspended, in any letter case.
func ParsePowerState(s string) (PowerState, error) {
	switch strings.ToLower(s) {
	case "":
		return "", nil
	case "on", "poweredon":
		return PoweredOn, nil
	case "off", "poweredoff":
		return PoweredOff, nil
	case "suspended":
		return Suspended, nil
	}
	return "", fmt.Errorf("power state %q: want on, off or suspended", s)
}

// MatchName reports whether a VM name passes the name glob.
func (f Filter) MatchName(name string) bool {
	if f.Name == "" {
		return true
	}
	ok, _ := path.Match(f.Name, name)
	return ok
}

// Match reports whether vm passes the name and power-state filters. VMs
// of offline files have no power state and pass a power-state filter
// only when it is poweredOff.
func (f Filter) Match(vm *VM) bool {
	if !f.MatchName(vm.Name) {
		return false
	}
	if f.PowerState != "" {
		p := vm.State.Power
		if p == "" {
			p = PoweredOff
		}
		if p != f.PowerState {
			return false
		}
	}
	return true
}

// Collect runs every source in turn and returns one sorted inventory.
// Files a source could not read at all do not stop it: the inventory of
// everything else comes back with an *UnreadableFiles error naming them.
// Any other error stops the collection and returns no inventory.
func Collect(ctx context.Context, sources []Source, opts Options) (*Inventory, error) {
	if err := opts.Filter.Validate(); err != nil {
		return nil, err
	}
	inv := NewInventory()
	unreadable := &UnreadableFiles{}
	for _, s := range sources {
		vms, err := s.Discover(ctx, opts)
		if err != nil {
			u, ok := AsUnreadable(err)
			if !ok {
				return nil, err
			}
			unreadable.Files = append(unreadable.Files, u.Files...)
		}
		inv.Sources = append(inv.Sources, s.String())
		inv.VMs = append(inv.VMs, vms...)
	}
	inv.Sort()
	return inv, unreadable.Err()
}
