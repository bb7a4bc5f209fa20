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
func (s *RuntimeStages) convertGuest(ctx context.Context, vm *podvm.PlannedVM, disk podvm.Disk, dst string, tr *TransferResult) error {
	mode := s.GuestConversion
	if mode == "" {
		mode = guest.ModeNever
	}
	// The operating system lives on the boot disk (the spec's first); the
	// others are data disks, where virt-v2v finds no guest to convert.
	if mode != guest.ModeNever && len(vm.Spec.Disks) > 0 && disk.Name != vm.Spec.Disks[0].Name {
		mergeAttrs(tr, map[string]string{"guestConversion": "skipped", "guestConversionReason": "a data disk: guest conversion runs on the boot disk " + vm.Spec.Disks[0].Name})
		return nil
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
	mergeAttrs(tr, guestAttrs(out))
	if out.Result == nil {
		return nil
	}
	sum, err := s.Checksum(ctx, dst)
	if err != nil {
		return fmt.Errorf("guest conversion of %s: checksum: %w", dst, err)
	}
	tr.Checksum = sum
	return nil
}

// mergeAttrs adds attributes to the transfer's run-record attributes.
func mergeAttrs(tr *TransferResult, a map[string]string) {
	if tr.Attrs == nil {
		tr.Attrs = map[string]string{}
	}
	for k, v := range a {
		tr.Attrs[k] = v
	}
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
