package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/podvm-migrate/podvm-migrate/image"
	"github.com/podvm-migrate/podvm-migrate/podvm"
	"github.com/podvm-migrate/podvm-migrate/runtime"
)

// Pod annotations that choose how readiness is seen.
const (
	AnnotationReady     = "podvm-migrate.io/ready"      // serial (default) | agent | none
	AnnotationReadyLine = "podvm-migrate.io/ready-line" // default PODVM-READY
)

// Backoff between failed pulls or boots, doubling up to the maximum, as
// the kubelet's.
const (
	backoffStart = 10 * time.Second
	backoffMax   = 5 * time.Minute
)

// bootError is a failure to boot the pod VM; pullError a failure to read
// its image; permanentError one that no retry changes.
type (
	pullError      struct{ error }
	permanentError struct {
		reason string
		error
	}
)

func (e pullError) Unwrap() error      { return e.error }
func (e permanentError) Unwrap() error { return e.error }

// work boots v's pod VM (or adopts the running one), follows it and
// applies the restart policy, until the pod ends or ctx does.
func (p *Provider) work(ctx context.Context, v *podVM, adopt bool) {
	key := podKey(v.pod.Namespace, v.pod.Name)
	backoff := backoffStart
	for {
		var ready <-chan error
		var vm *runtime.PodVM
		if adopt {
			adopt = false
			got, err := p.getVM(ctx, v.vm)
			switch {
			case err == nil:
				vm = got
			case errors.Is(err, runtime.ErrNotFound):
				p.cfg.Log.Info("pod VM of adopted pod is gone; booting it", "pod", key, "vm", v.vm)
			default:
				p.cfg.Log.Warn("adopted pod VM unreadable; booting it again", "pod", key, "vm", v.vm, "err", err)
			}
		}
		if vm == nil {
			var err error
			ready, err = p.boot(ctx, v)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				var perm permanentError
				var pull pullError
				switch {
				case errors.As(err, &perm):
					p.cfg.Log.Warn("pod cannot run", "pod", key, "reason", perm.reason, "err", err)
					p.setStatus(v, func(s *corev1.PodStatus) {
						s.Phase, s.Reason, s.Message = corev1.PodFailed, perm.reason, err.Error()
						setContainer(s, waiting(perm.reason, err.Error()), false, v.restarts, v.vm)
						setConditions(s, false, err.Error())
					})
					return
				case errors.As(err, &pull):
					p.cfg.Log.Warn("image pull failed", "pod", key, "err", err, "retry", backoff)
					p.setStatus(v, func(s *corev1.PodStatus) {
						s.Reason, s.Message = "", ""
						setContainer(s, waiting(ReasonPullError, err.Error()), false, v.restarts, v.vm)
						setConditions(s, false, err.Error())
					})
					if !sleep(ctx, backoff) {
						return
					}
					p.setStatus(v, func(s *corev1.PodStatus) {
						setContainer(s, waiting(ReasonPullBackOff, err.Error()), false, v.restarts, v.vm)
					})
					backoff = min(2*backoff, backoffMax)
					continue
				default:
					p.cfg.Log.Warn("pod VM boot failed", "pod", key, "err", err)
					if !p.exited(ctx, v, terminated(1, ReasonBootFailed, err.Error()), true, &backoff) {
						return
					}
					continue
				}
			}
			vm, err = p.getVM(ctx, v.vm)
			if err != nil {
				vm = &runtime.PodVM{Name: v.vm, Started: time.Now()}
			}
		}
		notReady := p.follow(ctx, v, vm, ready)
		if ctx.Err() != nil {
			return
		}
		p.cfg.Log.Info("pod VM stopped", "pod", key, "vm", v.vm, "notReady", notReady)
		end, failed := terminated(0, ReasonCompleted, "the guest powered off"), false
		if notReady != nil {
			end, failed = terminated(1, ReasonBootFailed, notReady.Error()), true
		}
		if !p.exited(ctx, v, end, failed, &backoff) {
			return
		}
	}
}

// exited records the container's end and applies the restart policy: it
// returns true when the pod VM is to be booted again (after the backoff).
func (p *Provider) exited(ctx context.Context, v *podVM, state corev1.ContainerState, failed bool, backoff *time.Duration) bool {
	policy := v.pod.Spec.RestartPolicy
	again := policy == corev1.RestartPolicyAlways || policy == "" || (failed && policy == corev1.RestartPolicyOnFailure)
	p.setStatus(v, func(s *corev1.PodStatus) {
		setContainer(s, state, false, v.restarts, v.vm)
		setConditions(s, false, state.Terminated.Message)
		if !again {
			s.Phase = corev1.PodSucceeded
			if failed {
				s.Phase, s.Reason, s.Message = corev1.PodFailed, state.Terminated.Reason, state.Terminated.Message
			}
		}
	})
	if !again {
		return false
	}
	if !sleep(ctx, *backoff) {
		return false
	}
	*backoff = min(2**backoff, backoffMax)
	p.mu.Lock()
	v.restarts++
	rec := record{Pod: v.pod, VM: v.vm, RestartCount: v.restarts}
	p.mu.Unlock()
	if err := p.saveRecord(rec); err != nil {
		p.cfg.Log.Warn("record not saved", "vm", v.vm, "err", err)
	}
	p.setStatus(v, func(s *corev1.PodStatus) {
		setContainer(s, waiting(ReasonCrashBackOff, state.Terminated.Message), false, v.restarts, v.vm)
		s.ContainerStatuses[0].LastTerminationState = state
	})
	return true
}

// boot pulls the pod's image and starts its pod VM. It returns once the
// domain runs, with a channel that delivers the readiness wait's result.
func (p *Provider) boot(ctx context.Context, v *podVM) (<-chan error, error) {
	pod := v.pod
	if len(pod.Spec.Containers) != 1 || len(pod.Spec.InitContainers) != 0 {
		return nil, permanentError{ReasonUnsupported, fmt.Errorf("a pod VM pod has exactly one container and no init containers; this one has %d and %d",
			len(pod.Spec.Containers), len(pod.Spec.InitContainers))}
	}
	c := pod.Spec.Containers[0]
	ref, host, err := imageRef(c.Image)
	if err != nil {
		return nil, permanentError{ReasonPullError, err}
	}
	ro, err := p.registryOptions(pod, host)
	if err != nil {
		return nil, pullError{err}
	}
	info, err := image.Inspect(ctx, ref, ro)
	if err != nil {
		if errors.Is(err, image.ErrNotPodVMImage) {
			return nil, permanentError{ReasonNotPodVMImage, fmt.Errorf("image %s is not a pod VM image: it carries no %s label; build one with 'podvm-migrate image build' or run it on an ordinary node",
				c.Image, image.AnnotationSpec)}
		}
		return nil, pullError{err}
	}
	spec := info.Spec
	applyResources(&spec, c.Resources)
	mode, line := pod.Annotations[AnnotationReady], pod.Annotations[AnnotationReadyLine]
	if mode == "" {
		mode = runtime.ReadySerial
	}
	rt, err := p.openRuntime(ctx, ro)
	if err != nil {
		return nil, err
	}
	if _, err := rt.Get(ctx, v.vm); err == nil { // a stopped pod VM of an earlier attempt
		if err := rt.Remove(ctx, v.vm, true); err != nil {
			rt.Close()
			return nil, err
		}
	}
	cfg := runtime.MachineConfig{
		Name: v.vm, Image: ref, Spec: &spec, Publish: hostPorts(c),
		Ready: mode, ReadyLine: line, WaitReady: true, ReadyTimeout: 24 * time.Hour,
	}
	started := make(chan struct{})
	// Two pods of one image must not take it into the store at the same
	// time: the runtime unpacks it into one folder.
	unlock := p.lockImage(ref)
	handlers := runtime.DefaultHandlers().
		InsertBefore(runtime.ResolveAccelHandler, runtime.Handler{
			Name: "image-taken-in",
			Fn:   func(context.Context, *runtime.Machine) error { unlock(); return nil },
		}).
		InsertBefore(runtime.WaitReadyHandler, runtime.Handler{
			Name: "report-running",
			Fn:   func(context.Context, *runtime.Machine) error { close(started); return nil },
		})
	res := make(chan error, 1)
	go func() {
		defer rt.Close()
		_, err := rt.NewMachine(cfg, runtime.WithHandlers(handlers)).Start(ctx)
		unlock()
		res <- err
	}()
	p.cfg.Log.Info("booting pod VM", "pod", podKey(pod.Namespace, pod.Name), "vm", v.vm, "image", ref,
		"vcpus", spec.CPU.VCPUs(), "memoryMiB", spec.MemoryMiB)
	select {
	case <-started:
		return res, nil
	case err := <-res:
		if err == nil { // cannot happen: the handler runs before Start returns
			return res, nil
		}
		if errors.Is(err, runtime.ErrImageNotFound) {
			return nil, pullError{err}
		}
		return nil, err
	}
}

// follow reports the running pod VM until it stops or ctx ends. Ready
// comes from the runtime's readiness wait (ready), from the pod VM's
// record, or for an adopted pod VM from its serial console. It returns why
// the guest never became ready, when it stopped before.
func (p *Provider) follow(ctx context.Context, v *podVM, vm *runtime.PodVM, ready <-chan error) error {
	isReady := vm.ReadyLine != ""
	why := "waiting for the guest's readiness signal"
	var readyErr error
	line := v.pod.Annotations[AnnotationReadyLine]
	if line == "" {
		line = runtime.DefaultReadyLine
	}
	mode := v.pod.Annotations[AnnotationReady]
	t := time.NewTicker(p.cfg.StatusInterval)
	defer t.Stop()
	for {
		if !isReady {
			select {
			case err := <-ready:
				ready = nil
				if err == nil {
					isReady = true
				} else {
					why, readyErr = err.Error(), err
				}
			default:
			}
			if ready == nil && !isReady && (mode == "" || mode == runtime.ReadySerial) && serialHas(vm.SerialLog, line) {
				isReady = true
			}
			if mode == runtime.ReadyNone {
				isReady = true
			}
		}
		started := vm.Started
		p.setStatus(v, func(s *corev1.PodStatus) {
			s.Phase, s.Reason, s.Message = corev1.PodRunning, "", ""
			s.PodIP, s.PodIPs = p.cfg.NodeIP, []corev1.PodIP{{IP: p.cfg.NodeIP}}
			setContainer(s, running(started), isReady, v.restarts, v.vm)
			setConditions(s, isReady, why)
		})
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		got, err := p.getVM(ctx, v.vm)
		switch {
		case errors.Is(err, runtime.ErrNotFound):
			return notReadyErr(isReady, readyErr)
		case err != nil:
			p.cfg.Log.Warn("pod VM state unreadable", "vm", v.vm, "err", err)
			continue
		}
		vm = got
		if vm.State != runtime.StateRunning && vm.State != runtime.StatePaused {
			if !isReady && ready != nil { // the readiness wait says why, at once
				if err := <-ready; err != nil {
					readyErr = err
				}
			}
			// A guest that prints its line and powers off at once may stop
			// before the readiness wait reads the line: the log decides.
			if !isReady && (mode == "" || mode == runtime.ReadySerial) && serialHas(vm.SerialLog, line) {
				isReady = true
			}
			return notReadyErr(isReady, readyErr)
		}
		if vm.ReadyLine != "" {
			isReady = true
		}
	}
}

func notReadyErr(ready bool, err error) error {
	if ready {
		return nil
	}
	if err == nil {
		return fmt.Errorf("%w: the guest stopped before it was ready", runtime.ErrNotReady)
	}
	return err
}

// serialHas reports whether the serial console log holds line.
func serialHas(path, line string) bool {
	b, err := os.ReadFile(path)
	return err == nil && bytes.Contains(b, []byte(line))
}

// applyResources lets the container's limits (else requests) decide the
// pod VM's vCPUs (rounded up) and memory (rounded up to MiB).
func applyResources(spec *podvm.Spec, r corev1.ResourceRequirements) {
	pick := func(n corev1.ResourceName) (int64, bool) {
		if q, ok := r.Limits[n]; ok {
			return q.MilliValue(), true
		}
		if q, ok := r.Requests[n]; ok {
			return q.MilliValue(), true
		}
		return 0, false
	}
	if m, ok := pick(corev1.ResourceCPU); ok {
		n := max(int((m+999)/1000), 1)
		spec.CPU = podvm.CPU{Sockets: 1, Cores: n, Threads: 1}
	}
	if m, ok := pick(corev1.ResourceMemory); ok {
		bytes := (m + 999) / 1000
		spec.MemoryMiB = max((bytes+(1<<20)-1)>>20, 1)
	}
}

// hostPorts publishes the container ports that name a hostPort.
func hostPorts(c corev1.Container) []runtime.PortForward {
	var out []runtime.PortForward
	for _, cp := range c.Ports {
		if cp.HostPort == 0 {
			continue
		}
		proto := "tcp"
		if cp.Protocol == corev1.ProtocolUDP {
			proto = "udp"
		}
		out = append(out, runtime.PortForward{Proto: proto, HostAddr: cp.HostIP, HostPort: int(cp.HostPort), GuestPort: int(cp.ContainerPort)})
	}
	return out
}

// sleep waits d or until ctx ends; false when ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
