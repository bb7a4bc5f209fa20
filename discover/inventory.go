// Package discover holds the inventory model that every later step reads:
// the VMs found in vSphere or in offline .vmx, .ovf and .ova files, with
// their identity, guest, hardware, state and where they came from, in one
// versioned document (apiVersion podvm-migrate/v1, kind Inventory) that
// round-trips through JSON and YAML. Sources (vSphere, VMX, OVF/OVA) live in
// sub-packages and implement Source.
package discover

import (
	"fmt"
	"sort"
	"time"

	"sigs.k8s.io/yaml"
)

// The document header every inventory carries.
const (
	APIVersion    = "podvm-migrate/v1"
	KindInventory = "Inventory"
)

// Inventory is the versioned document that discovery writes and planning
// reads.
type Inventory struct {
	APIVersion string    `json:"apiVersion"`        // always APIVersion
	Kind       string    `json:"kind"`              // always KindInventory
	Generated  time.Time `json:"generated"`         // when discovery finished (UTC)
	Sources    []string  `json:"sources,omitempty"` // each source searched: endpoint URL (no credentials) or file path
	VMs        []VM      `json:"vms"`               // sorted by Source.Kind, then inventory path or file, then name
}

// NewInventory returns an empty inventory with the document header set.
func NewInventory() *Inventory {
	return &Inventory{APIVersion: APIVersion, Kind: KindInventory, Generated: time.Now().UTC().Truncate(time.Second), VMs: []VM{}}
}

// Validate checks the document header, so a planner never reads a file
// of another kind or version by mistake.
func (inv *Inventory) Validate() error {
	if inv.APIVersion != APIVersion {
		return fmt.Errorf("inventory: apiVersion %q: want %q", inv.APIVersion, APIVersion)
	}
	if inv.Kind != KindInventory {
		return fmt.Errorf("inventory: kind %q: want %q", inv.Kind, KindInventory)
	}
	return nil
}

// Sort orders the VMs stably by source kind, location and name, so two
// runs over the same estate give byte-identical documents.
func (inv *Inventory) Sort() {
	sort.SliceStable(inv.VMs, func(i, j int) bool {
		a, b := inv.VMs[i], inv.VMs[j]
		if a.Source.Kind != b.Source.Kind {
			return a.Source.Kind < b.Source.Kind
		}
		if ka, kb := a.sortKey(), b.sortKey(); ka != kb {
			return ka < kb
		}
		return a.Name < b.Name
	})
}

func (vm *VM) sortKey() string {
	if vm.Identity.InventoryPath != "" {
		return vm.Identity.InventoryPath
	}
	return vm.Source.Path + "\x00" + vm.Source.Member
}

// Unmarshal reads an inventory document in JSON or YAML and validates
// its header.
func Unmarshal(data []byte) (*Inventory, error) {
	var inv Inventory
	if err := yaml.Unmarshal(data, &inv); err != nil {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	if err := inv.Validate(); err != nil {
		return nil, err
	}
	return &inv, nil
}
