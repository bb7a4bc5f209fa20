package migrate

import (
	"context"
	"fmt"
	"strings"

	"github.com/podvm-migrate/podvm-migrate/convert"
	"github.com/podvm-migrate/podvm-migrate/convert/guest"
	"github.com/podvm-migrate/podvm-migrate/internal/host"
	"github.com/podvm-migrate/podvm-migrate/plan"
	"github.com/podvm-migrate/podvm-migrate/podvm"
	"github.com/podvm-migrate/podvm-migrate/runrecord"
)

// convertGuest runs guest conversion on a copied disk when the mode and
// the VM's plan call for it, and notes what it did in tr: the checksum
// becomes the converted disk's, so a rerun still recognises the finished
// disk, and Guest carries the decision and virt-v2v's changes into the run
// record.
func (p *DiskPipeline) convertGuest(ctx context.Context, vm *plan.PlannedVM, disk podvm.Disk, dst string, tr *TransferResult) error {
	mode := p.GuestConversion
	if mode == "" {
		mode = guest.ModeNever
	}
	// The operating system lives on the boot disk (the spec's first); the
	// others are data disks, where virt-v2v finds no guest to convert.
	if mode != guest.ModeNever && len(vm.Spec.Disks) > 0 && disk.Name != vm.Spec.Disks[0].Name {
		tr.Guest = &runrecord.GuestConversion{Result: runrecord.GuestSkipped, Reason: "a data disk: guest conversion runs on the boot disk " + vm.Spec.Disks[0].Name}
		return nil
	}
	d := guest.Decide(mode, &vm.Spec)
	if !d.Convert && mode == guest.ModeNever {
		return nil
	}
	accel := host.AccelTCG
	if d.Convert && p.ApplianceAccel != nil {
		accel = p.ApplianceAccel(ctx)
	}
	cache := p.GuestCacheDir
	if cache == "" {
		cache = guest.DefaultCacheDir()
	}
	out, err := guest.Run(ctx, dst, &vm.Spec, mode, guest.Options{Format: convert.FormatQCOW2, Accel: accel, CacheDir: cache})
	if err != nil {
		return err
	}
	tr.Guest = guestRecord(out)
	if out.Result == nil {
		return nil
	}
	sum, err := p.Checksum(ctx, dst)
	if err != nil {
		return fmt.Errorf("guest conversion of %s: checksum: %w", dst, err)
	}
	tr.Checksum = sum
	return nil
}

// guestRecord is the run record's account of an outcome.
func guestRecord(o *guest.Outcome) *runrecord.GuestConversion {
	g := &runrecord.GuestConversion{Result: runrecord.GuestSkipped, Reason: o.Reason}
	r := o.Result
	if r == nil {
		return g
	}
	in := r.Inspection
	g.Result = runrecord.GuestConverted
	g.Seconds = r.Duration.Seconds()
	g.Accel = r.Accel
	g.Log = r.LogFile
	g.Inspected = strings.TrimSpace(fmt.Sprintf("%s %s %s (%s, root %s)", in.Type, in.Distro, in.ProductName, in.OSInfo, in.Root))
	g.Removed, g.InitramfsModules, g.FirstBoot, g.Warnings, g.Commands = r.Removed, r.InitramfsModules, r.FirstBoot, r.Warnings, r.Commands
	if n := r.NICNames; n != nil {
		for _, p := range n.Pinned {
			g.Commands = append(g.Commands, fmt.Sprintf("NIC %s named %s (%s)", p.MAC, p.Name, n.Rules))
		}
	}
	return g
}
