package migrate

import (
	"context"
	"fmt"
	"net"
	"strings"

	"github.com/podvm-migrate/podvm-migrate/checks/probe"
	"github.com/podvm-migrate/podvm-migrate/plan"
	"github.com/podvm-migrate/podvm-migrate/runrecord"
	"github.com/podvm-migrate/podvm-migrate/runtime"
)

// CheckTarget is a Target that says where the host reaches its pod VMs, so
// that the plan's post-migration checks can run against them. A Target
// without it has its checks skipped, with that reason.
type CheckTarget interface {
	// CheckAddress is where the host reaches vm's ready pod VM.
	CheckAddress(ctx context.Context, vm *plan.PlannedVM) (probe.Address, error)
}

var _ CheckTarget = (*RuntimeTarget)(nil)

// checkVM runs the plan's checks against a VM that became (or was) ready:
// every check's outcome is an event, and a failed check fails the VM.
func (r *Runner) checkVM(ctx context.Context, vm *plan.PlannedVM, res VMResult) VMResult {
	if res.Status != "ready" || len(vm.Checks) == 0 {
		return res
	}
	fail := func(err error) VMResult {
		r.emit(runrecord.Event{VM: vm.Spec.Name, Phase: runrecord.PhaseCheck, Result: runrecord.ResultFailed, Error: err.Error()})
		res.Status, res.Error = runrecord.ResultFailed, fmt.Sprintf("%s: %v", runrecord.PhaseCheck, err)
		return res
	}
	cs, err := vm.ParsedChecks()
	if err != nil {
		return fail(err)
	}
	var addr probe.Address
	if ct, ok := r.target.(CheckTarget); ok {
		if addr, err = ct.CheckAddress(ctx, vm); err != nil {
			return fail(fmt.Errorf("where to reach the pod VM: %w", err))
		}
	}
	where := ""
	if addr != nil {
		where = addr.String()
	}
	record := func(c probe.Result) runrecord.Check {
		return runrecord.Check{Check: c.Check, Outcome: c.Outcome, Target: c.Target, Address: where, Detail: c.Detail, Attempts: c.Attempts}
	}
	// Each outcome is journalled as soon as it is known.
	results := probe.Run(ctx, addr, cs, r.o.Checks, func(_ int, c probe.Result) {
		rec := record(c)
		e := runrecord.Event{VM: vm.Spec.Name, Phase: runrecord.PhaseCheck, Result: runrecord.ResultDone, Duration: c.Duration, Check: &rec}
		switch c.Outcome {
		case probe.Failed:
			e.Result, e.Error = runrecord.ResultFailed, c.Check+": "+c.Detail
		case probe.Skipped:
			e.Result = runrecord.ResultSkipped
		}
		r.emit(e)
	})
	if ctx.Err() != nil && r.journalErr() == nil { // Ctrl-C: no verdict
		res.Checks = nil
		res.Status = StatusInterrupted
		res.Error = fmt.Sprintf("interrupted during its checks; pod VM %s is ready and left running: rerun to check it again", vm.Spec.Name)
		r.emit(runrecord.Event{VM: vm.Spec.Name, Phase: runrecord.PhaseCheck, Result: runrecord.ResultInterrupted, Error: res.Error})
		return res
	}
	var failed []string
	for _, c := range results {
		res.Checks = append(res.Checks, record(c))
		if c.Outcome == probe.Failed {
			failed = append(failed, c.Check+": "+c.Detail)
		}
	}
	if len(failed) > 0 {
		res.Status = runrecord.ResultFailed
		res.Error = fmt.Sprintf("%s: %d of %d failed: %s", runrecord.PhaseCheck, len(failed), len(cs), strings.Join(failed, "; "))
	}
	return res
}

// CheckAddress is the pod VM's address on a libvirt network or bridge (the
// ip= of its readiness line), or on user networking the host ports that
// Boot published for the guest ports the checks name.
func (t *RuntimeTarget) CheckAddress(ctx context.Context, vm *plan.PlannedVM) (probe.Address, error) {
	if len(vm.Spec.NICs) == 0 {
		return nil, fmt.Errorf("pod VM %s has no NIC: nothing can reach it", vm.Spec.Name)
	}
	pod, err := t.Runtime.Get(ctx, vm.Spec.Name)
	if err != nil {
		return nil, err
	}
	if !plan.IsRuntimeOnlyNetwork(vm.Spec.NICs[0].Network) {
		fw := probe.Forwarded{Ports: map[int]int{}}
		for _, p := range pod.Publish {
			if p.Proto == "tcp" {
				fw.Ports[p.GuestPort], fw.Host = p.HostPort, p.HostAddr
			}
		}
		return fw, nil
	}
	// The runtime learns the address from the network's DHCP leases, the
	// guest agent or the readiness line's ip= (a static address).
	for _, a := range pod.Addresses {
		if a.Network == vm.Spec.NICs[0].Network || (a.Network != "" && plan.IsRuntimeOnlyNetwork(a.Network)) {
			return probe.IP(a.IP), nil
		}
	}
	return nil, fmt.Errorf("pod VM %s on network %s: no address known (no DHCP lease, guest agent or ip= on its readiness line %q)", vm.Spec.Name, vm.Spec.NICs[0].Network, pod.ReadyLine)
}

// checkForwards publishes, for a pod VM on user networking, each guest
// port its checks name on a free port of the host's loopback address.
func checkForwards(vm *plan.PlannedVM) ([]runtime.PortForward, error) {
	if len(vm.Checks) == 0 || len(vm.Spec.NICs) == 0 || plan.IsRuntimeOnlyNetwork(vm.Spec.NICs[0].Network) {
		return nil, nil
	}
	cs, err := vm.ParsedChecks()
	if err != nil {
		return nil, err
	}
	var out []runtime.PortForward
	seen := map[int]bool{}
	for _, c := range cs {
		g := c.GuestPort()
		if g == 0 || seen[g] {
			continue
		}
		seen[g] = true
		h, err := freePort()
		if err != nil {
			return nil, fmt.Errorf("a host port for guest port %d: %w", g, err)
		}
		out = append(out, runtime.PortForward{Proto: "tcp", HostAddr: "127.0.0.1", HostPort: h, GuestPort: g})
	}
	return out, nil
}

// freePort is a TCP port of 127.0.0.1 that is free now. QEMU binds it a
// moment later; another process taking it between makes the boot fail.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
