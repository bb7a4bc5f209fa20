package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"libvirt.org/go/libvirt"

	"github.com/podvm-migrate/podvm-migrate/internal/host"
	"github.com/podvm-migrate/podvm-migrate/podvm"
)

// Accelerators.
const (
	AccelKVM = host.AccelKVM
	AccelTCG = host.AccelTCG
)

// AccelVerdict is which accelerator pod VMs get and why.
type AccelVerdict struct{ host.Verdict }

// DomainType is the libvirt domain type for the accelerator.
func (v *AccelVerdict) DomainType() string {
	if v.Accel == AccelKVM {
		return "kvm"
	}
	return "qemu"
}

// ResolveAccel turns auto|kvm|tcg into an accelerator. For auto it uses the
// verdict cached for this host and host kernel, or smoke-boots kernel and
// initrd as a KVM domain: an openable /dev/kvm, or libvirt offering kvm,
// proves nothing on a nested host where guests crawl and stop with "KVM
// internal error". Only the outcome of a smoke boot that ran is cached.
// Without a kernel to probe with, or when the smoke boot cannot start (a
// missing kernel file, libvirt offering no kvm domain), TCG is chosen for
// this time only, the latter with a warning.
func (r *Runtime) ResolveAccel(ctx context.Context, want, kernel, initrd string) (*AccelVerdict, error) {
	switch want {
	case AccelKVM:
		if err := host.KVMOpenable(); err != nil {
			return nil, fmt.Errorf("%w: --accel kvm: %v", ErrUnsatisfiable, err)
		}
		return &AccelVerdict{host.Verdict{Accel: AccelKVM, Reason: "requested"}}, nil
	case AccelTCG:
		return &AccelVerdict{host.Verdict{Accel: AccelTCG, Reason: "requested"}}, nil
	case "", "auto":
	default:
		return nil, fmt.Errorf("accelerator %q: want auto, kvm or tcg", want)
	}
	v, err := host.CachedVerdict(ctx, r.accelCacheFile(), func(ctx context.Context) (host.Verdict, bool, error) {
		if kernel == "" {
			return host.Verdict{Accel: AccelTCG, Reason: "no kernel to smoke-test KVM with (image carries none, no --probe-kernel); pass --accel kvm to force"}, false, nil
		}
		res, err := r.smokeBoot(ctx, kernel, initrd)
		if err != nil {
			return host.Verdict{}, false, err
		}
		if !res.ran {
			r.warnOnce("KVM smoke boot could not run: pod VMs get TCG, and the next run probes again", "reason", res.why)
			return host.Verdict{Accel: AccelTCG, Reason: res.why}, false, nil
		}
		if res.booted {
			return host.Verdict{Accel: AccelKVM, Reason: res.why}, true, nil
		}
		return host.Verdict{Accel: AccelTCG, Reason: res.why}, true, nil
	})
	if err != nil {
		return nil, err
	}
	return &AccelVerdict{*v}, nil
}

// accelCacheFile keeps the accelerator verdict for this host.
func (r *Runtime) accelCacheFile() string { return filepath.Join(r.cfg.StateDir, "accel-probe.json") }

// warnOnce logs a warning the first time this runtime meets it.
func (r *Runtime) warnOnce(msg string, args ...any) {
	key := fmt.Sprint(append([]any{msg}, args...)...)
	r.mu.Lock()
	seen := r.warned[key]
	if r.warned == nil {
		r.warned = map[string]bool{}
	}
	r.warned[key] = true
	r.mu.Unlock()
	if !seen {
		r.cfg.Log.Warn(msg, args...)
	}
}

// smokeResult is what a KVM smoke boot found.
type smokeResult struct {
	ran    bool   // a guest was started: booted says how it went
	booted bool   // it reached user space
	why    string // in words
}

// smokeBoot boots kernel+initrd as a transient KVM domain and reports
// whether the guest reached user space (the readiness line or "Run /init")
// before the probe timeout, a pause (KVM internal error) or an exit. When
// no guest could be started (a kernel or initrd that is not there, libvirt
// offering no kvm domain, a domain libvirt refuses) ran is false. The probe
// domain never outlives the call.
func (r *Runtime) smokeBoot(ctx context.Context, kernel, initrd string) (smokeResult, error) {
	for _, f := range []string{kernel, initrd} {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			return smokeResult{why: fmt.Sprintf("KVM smoke boot could not start: %v", err)}, nil
		}
	}
	r.reapProbes()
	dir, err := os.MkdirTemp(r.cfg.StateDir, "accel-probe-")
	if err != nil {
		return smokeResult{}, err
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		return smokeResult{}, err
	}
	name := DomainPrefix + filepath.Base(dir) // unique: accel-probe-<random>
	serial := filepath.Join(dir, "serial.log")
	spec := podvm.DefaultSpec("accel-probe", 0)
	spec.MemoryMiB, spec.Disks, spec.NICs = 256, nil, nil
	caps, err := r.domainCaps("kvm", machineType(&spec))
	if err != nil {
		return smokeResult{why: "KVM smoke boot: libvirt offers no kvm domain: " + lastLine(err.Error())}, nil
	}
	x, err := domainXMLFor(domainParams{Domain: name, Type: "kvm", Emulator: caps.Emulator, Spec: &spec, Kernel: kernel, Initrd: initrd,
		Cmdline: "console=ttyS0 panic=-1", Serial: serial,
		Meta: podMeta{Name: "accel-probe", Accel: AccelKVM, Reason: "smoke boot", State: r.cfg.StateDir,
			Started: time.Now().UTC().Format(time.RFC3339Nano)}})
	if err != nil {
		return smokeResult{}, err
	}
	start := time.Now()
	dom, err := r.conn.DomainCreateXML(x, libvirt.DOMAIN_NONE)
	if err != nil {
		if qemuExited(err) {
			// QEMU itself ran and died under KVM (e.g. a nested host's
			// failed MSR write): a real outcome.
			return smokeResult{ran: true, why: "KVM smoke boot: QEMU stopped at start under KVM: " + lastLine(err.Error())}, nil
		}
		return smokeResult{why: "KVM smoke boot could not start: " + lastLine(err.Error())}, nil
	}
	defer func() {
		_ = dom.Destroy()
		dom.Free()
	}()
	pctx, cancel := context.WithTimeout(ctx, r.cfg.ProbeTimeout)
	defer cancel()
	res := smokeResult{ran: true}
	_ = wait.PollUntilContextCancel(pctx, 100*time.Millisecond, true, func(context.Context) (bool, error) {
		if b, err := os.ReadFile(serial); err == nil {
			s := string(b)
			if strings.Contains(s, DefaultReadyLine) || strings.Contains(s, "Run /init as init process") {
				res.booted, res.why = true, fmt.Sprintf("KVM smoke boot reached user space in %.1fs", time.Since(start).Seconds())
				return true, nil
			}
			if strings.Contains(s, "KVM internal error") {
				res.why = "KVM smoke boot: KVM internal error"
				return true, nil
			}
		}
		st, reason, err := dom.GetState()
		if err != nil || st == libvirt.DOMAIN_SHUTOFF || st == libvirt.DOMAIN_CRASHED {
			res.why = "KVM smoke boot: guest stopped before user space"
			return true, nil
		}
		if st == libvirt.DOMAIN_PAUSED {
			res.why = "KVM smoke boot: guest paused"
			if libvirt.DomainPausedReason(reason) == libvirt.DOMAIN_PAUSED_IOERROR || qemuLogHas(name, "KVM internal error") {
				res.why += " (KVM internal error)"
			}
			return true, nil
		}
		return false, nil
	})
	if res.why != "" {
		return res, nil
	}
	if ctx.Err() != nil {
		return smokeResult{}, ctx.Err()
	}
	res.why = fmt.Sprintf("KVM smoke boot not in user space within %s", r.cfg.ProbeTimeout)
	if qemuLogHas(name, "KVM internal error") {
		res.why += " (KVM internal error)"
	}
	return res, nil
}

// reapProbes destroys probe domains left by a probing process that died
// (a hung KVM guest would otherwise run forever), with their folders.
func (r *Runtime) reapProbes() {
	live, err := r.liveDomains()
	if err != nil {
		return
	}
	for name, d := range live {
		started, err := time.Parse(time.RFC3339Nano, d.meta.Started)
		if d.meta.Name != "accel-probe" || err != nil || time.Since(started) < 2*r.cfg.ProbeTimeout+time.Minute {
			continue
		}
		if dom, err := r.conn.LookupDomainByName(name); err == nil {
			_ = dom.Destroy()
			dom.Free()
		}
		os.RemoveAll(filepath.Join(d.meta.State, strings.TrimPrefix(name, DomainPrefix)))
	}
}

// qemuExited tells a domain whose QEMU started and died (libvirt's
// internal error from the QEMU driver: "qemu unexpectedly closed the
// monitor") from one libvirt never started (a file it cannot reach, a
// configuration it refuses).
func qemuExited(err error) bool {
	var le libvirt.Error
	return errors.As(err, &le) && le.Code == libvirt.ERR_INTERNAL_ERROR && le.Domain == libvirt.FROM_QEMU
}

// qemuLogHas looks for s in libvirt's QEMU log of a domain.
func qemuLogHas(domain, s string) bool {
	b, err := os.ReadFile(filepath.Join("/var/log/libvirt/qemu", domain+".log"))
	return err == nil && strings.Contains(string(b), s)
}

// lastLine is the last non-empty line of s, without libvirt's wrapping.
func lastLine(s string) string {
	s = strings.TrimRight(strings.TrimSpace(s), "')")
	if i := strings.LastIndex(s, "\n"); i >= 0 {
		s = s[i+1:]
	}
	return strings.TrimSpace(s)
}
