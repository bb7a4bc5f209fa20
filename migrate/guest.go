package migrate

import (
	"context"
	"fmt"
	"strings"

	"github.com/podvm-migrate/podvm-migrate/convert"
	"github.com/podvm-migrate/podvm-migrate/convert/guest"
	"github.com/podvm-migrate/podvm-migrate/podvm"
	"github.com/podvm-migrate/podvm-migrate/runtime"
)

// convertGuest runs guest conversion on a copied disk when the mode and
// the VM's plan call for it, and notes what it did in tr: the checksum
// becomes the converted disk's, so a rerun still recognises the finished
// disk, and Attrs carry the decision and virt-v2v's changes into the run
// record.
func (s *RuntimeStages) convertGuest(ctx context.Context, vm *podvm.PlannedVM, dst string, tr *TransferResult) error {
	mode := s.GuestConversion
	if mode == "" {
		mode = guest.ModeNever
	}
	d := guest.Decide(mode, &vm.Spec)
	if !d.Convert && mode == guest.ModeNever {
		return nil
	}
	accel := runtime.AccelTCG
	if d.Convert {
		accel = s.applianceAccel(ctx)
	}
	cache := s.GuestCacheDir
	if cache == "" {
		cache = guest.DefaultCacheDir()
	}
	out, err := guest.Run(ctx, dst, &vm.Spec, mode, guest.Options{Format: convert.FormatQCOW2, Accel: accel, CacheDir: cache})
	if err != nil {
		return err
	}
	tr.Attrs = guestAttrs(out)
	if out.Result == nil {
		return nil
	}
	sum, err := s.Checksum(ctx, dst)
	if err != nil {
		return fmt.Errorf("guest conversion of %s: checksum: %w", dst, err)
	}
	tr.SHA256 = sum
	return nil
}

// applianceAccel is the runtime's accelerator verdict for libguestfs'
// appliance: TCG unless KVM is known to work.
func (s *RuntimeStages) applianceAccel(ctx context.Context) string {
	if s.Runtime == nil {
		if s.Accel == runtime.AccelKVM {
			return runtime.AccelKVM
		}
		return runtime.AccelTCG
	}
	v, err := s.Runtime.ResolveAccel(ctx, s.Accel, "", "")
	if err != nil {
		return runtime.AccelTCG
	}
	return v.Accel
}

// guestAttrs flattens an outcome into run-record attributes.
func guestAttrs(o *guest.Outcome) map[string]string {
	a := map[string]string{"guestConversion": "skipped", "guestConversionReason": o.Reason}
	r := o.Result
	if r == nil {
		return a
	}
	in := r.Inspection
	a["guestConversion"] = "converted"
	a["guestConversionSeconds"] = fmt.Sprintf("%.1f", r.Duration.Seconds())
	a["guestConversionAccel"] = r.Accel
	a["guestConversionLog"] = r.LogFile
	a["guestInspected"] = strings.TrimSpace(fmt.Sprintf("%s %s %s (%s, root %s)", in.Type, in.Distro, in.ProductName, in.OSInfo, in.Root))
	for k, v := range map[string][]string{"guestRemoved": r.Removed, "guestInitramfsModules": r.InitramfsModules,
		"guestFirstBoot": r.FirstBoot, "guestWarnings": r.Warnings, "guestCommands": r.Commands} {
		if len(v) > 0 {
			a[k] = strings.Join(v, "; ")
		}
	}
	return a
}
