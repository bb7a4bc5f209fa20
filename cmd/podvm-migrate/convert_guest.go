package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/pflag"

	"github.com/podvm-migrate/podvm-migrate/convert"
	"github.com/podvm-migrate/podvm-migrate/convert/guest"
	"github.com/podvm-migrate/podvm-migrate/podvm"
	"github.com/podvm-migrate/podvm-migrate/runtime"
)

// guestConversionFlags are the guest-conversion flags of convert disk and
// migrate.
type guestConversionFlags struct {
	mode     string
	family   string
	accel    string
	cacheDir string
}

func (o *guestConversionFlags) add(f *pflag.FlagSet, withFamily bool) {
	f.StringVar(&o.mode, "guest-conversion", guest.ModeAuto,
		"run virt-v2v-in-place on converted disks (virtio into the initramfs, VMware tools out, fstab and boot loader fixed): auto (Linux guests planned with virtio), always (any guest but Windows) or never")
	if withFamily {
		f.StringVar(&o.family, "guest-family", "", "guest OS family for --guest-conversion=auto: linux, windows or other (default: unknown, so auto converts nothing)")
	}
	f.StringVar(&o.accel, "guest-accel", "auto", "accelerator of libguestfs' appliance: auto (the runtime's KVM verdict), kvm or tcg")
	f.StringVar(&o.cacheDir, "guest-cache-dir", guest.DefaultCacheDir(), "where libguestfs' appliance is kept between runs")
}

// addMigrate adds the flags migrate takes: the appliance's accelerator is
// the runtime's own verdict there.
func (o *guestConversionFlags) addMigrate(f *pflag.FlagSet) {
	o.accel = "auto"
	f.StringVar(&o.mode, "guest-conversion", guest.ModeAuto,
		"run virt-v2v-in-place on each copied disk (virtio into the initramfs, VMware tools out, fstab and boot loader fixed): auto (Linux guests the plan gives virtio, when the disk can hold an installed OS), always (any guest but Windows) or never")
	f.StringVar(&o.cacheDir, "guest-cache-dir", guest.DefaultCacheDir(), "where libguestfs' appliance is kept between runs")
}

func (o *guestConversionFlags) validate() error {
	m, err := guest.ParseMode(o.mode)
	if err != nil {
		return usageError{err}
	}
	o.mode = m
	switch o.accel {
	case "auto", runtime.AccelKVM, runtime.AccelTCG:
	default:
		return usageError{fmt.Errorf("--guest-accel %q: want auto, kvm or tcg", o.accel)}
	}
	return nil
}

// resolveAccel turns auto into the runtime's cached verdict (TCG when the
// runtime is unreachable or has not probed): the appliance hangs under a
// KVM that only looks usable, and TCG is merely slower.
func (o *guestConversionFlags) resolveAccel(ctx context.Context) string {
	if o.accel != "auto" {
		return o.accel
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	rt, err := runtime.New(cctx)
	if err != nil {
		return runtime.AccelTCG
	}
	defer rt.Close()
	v, err := rt.ResolveAccel(cctx, "auto", "", "")
	if err != nil {
		return runtime.AccelTCG
	}
	return v.Accel
}

// convertGuest runs the conversion on dst when the mode says so.
func (o *guestConversionFlags) convertGuest(ctx context.Context, dst, format string, stderr io.Writer) (*guest.Outcome, error) {
	spec := &podvm.Spec{Mode: podvm.ModeVirtio, Guest: podvm.Guest{Family: o.family}}
	accel := runtime.AccelTCG
	if d := guest.Decide(o.mode, spec); d.Convert {
		accel = o.resolveAccel(ctx)
		fmt.Fprintf(stderr, "guest conversion: virt-v2v-in-place on %s (appliance on %s)\n", dst, accel)
	}
	out, err := guest.Run(ctx, dst, spec, o.mode, guest.Options{Format: format, Accel: accel, CacheDir: o.cacheDir,
		Progress: func(s string) { fmt.Fprintf(stderr, "guest conversion: %s\n", s) }})
	if err != nil {
		return nil, err
	}
	if !out.Convert && (o.mode == guest.ModeAlways || o.family != "") {
		fmt.Fprintf(stderr, "guest conversion skipped: %s\n", out.Reason)
	}
	return out, nil
}

// convertDiskOutput is convert disk's result: the copy's fields, plus the
// guest conversion when one was considered.
type convertDiskOutput struct {
	*convert.Result
	GuestConversion *guest.Outcome `json:"guestConversion,omitempty"`
}
