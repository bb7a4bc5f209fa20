package guest

import (
	"context"

	"github.com/podvm-migrate/podvm-migrate/podvm"
)

// Outcome is a decision and, when the guest was converted, the result.
type Outcome struct {
	Decision
	*Result `json:",omitempty"`
}

// Run decides under mode whether the guest on disk (described by spec, nil
// if unknown) is converted, and converts it. In auto mode a disk whose
// partition table shows no room for an installed operating system is
// skipped without starting libguestfs. The NIC names the guest's network
// configuration uses are pinned to the spec's NIC MACs (o.MACs, when set,
// instead).
func Run(ctx context.Context, disk string, spec *podvm.Spec, mode string, o Options) (*Outcome, error) {
	d := Decide(mode, spec)
	out := &Outcome{Decision: d}
	if !d.Convert {
		return out, nil
	}
	if mode != ModeAlways {
		ok, why, err := MayHoldOS(ctx, disk, o.Format)
		if err != nil {
			return nil, err
		}
		if !ok {
			out.Decision = Decision{Reason: why}
			return out, nil
		}
	}
	if len(o.MACs) == 0 && spec != nil {
		known := false
		for _, n := range spec.NICs {
			o.MACs = append(o.MACs, n.MAC)
			known = known || n.MAC != ""
		}
		if !known {
			o.MACs = nil
		}
	}
	if err := PrepareCache(o.CacheDir); err != nil {
		return nil, err
	}
	r, err := Convert(ctx, disk, o)
	out.Result = r
	return out, err
}
