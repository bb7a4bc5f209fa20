package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/errdefs"
	"github.com/virtual-kubelet/virtual-kubelet/node"
	corev1 "k8s.io/api/core/v1"
	corev1listers "k8s.io/client-go/listers/core/v1"

	"github.com/podvm-migrate/podvm-migrate/runtime"
)

// Provider runs the pods bound to the node as pod VMs. It implements
// virtual-kubelet's PodLifecycleHandler (GetPodStatus is polled by
// nodeutil) and the kubelet API's container logs.
type Provider struct {
	cfg     *Config
	secrets corev1listers.SecretLister

	mu    sync.Mutex
	pods  map[string]*podVM      // by namespace/name
	rt    *runtime.Runtime       // shared connection for status reads; reopened after a failure
	pulls map[string]*sync.Mutex // one per image reference being taken in
	// removals are the pod VMs being stopped and removed after DeletePod.
	removals sync.WaitGroup
}

var _ node.PodLifecycleHandler = (*Provider)(nil)

// podVM is one pod and its pod VM. Its fields are guarded by Provider.mu.
type podVM struct {
	pod      *corev1.Pod // as handed over, status not kept here
	vm       string      // runtime's pod VM name
	status   corev1.PodStatus
	restarts int32
	deleting bool // DeletePod started removing it
	cancel   context.CancelFunc
	done     chan struct{}
}

func newProvider(cfg *Config, secrets corev1listers.SecretLister) *Provider {
	return &Provider{cfg: cfg, secrets: secrets, pods: map[string]*podVM{}, pulls: map[string]*sync.Mutex{}}
}

// lockImage serializes taking one image into the runtime's store; the
// returned unlock may be called more than once.
func (p *Provider) lockImage(ref string) (unlock func()) {
	p.mu.Lock()
	m, ok := p.pulls[ref]
	if !ok {
		m = &sync.Mutex{}
		p.pulls[ref] = m
	}
	p.mu.Unlock()
	m.Lock()
	var once sync.Once
	return func() { once.Do(m.Unlock) }
}

func podKey(ns, name string) string { return ns + "/" + name }

var notLabel = regexp.MustCompile(`[^a-z0-9-]+`)

// VMName is the runtime pod VM name of a pod: namespace and name made a
// DNS-1123 label, with a short hash of the pod's UID so a re-created pod
// of the same name never takes over an old pod VM.
func VMName(pod *corev1.Pod) string {
	base := notLabel.ReplaceAllString(strings.ToLower(pod.Namespace+"-"+pod.Name), "-")
	if len(base) > 50 {
		base = base[:50]
	}
	base = strings.Trim(base, "-")
	sum := sha256.Sum256([]byte(pod.UID))
	return "k8s-" + base + "-" + hex.EncodeToString(sum[:])[:8]
}

// start adopts records and pod VMs left by an earlier run of the agent:
// a pod whose pod VM still runs is followed again, not booted twice.
func (p *Provider) start(ctx context.Context) error {
	recs, err := p.loadRecords()
	if err != nil {
		return err
	}
	for _, r := range recs {
		v := &podVM{pod: r.Pod, vm: r.VM, restarts: r.RestartCount}
		v.status = pendingStatus(p.cfg, v.pod)
		p.mu.Lock()
		p.pods[podKey(r.Pod.Namespace, r.Pod.Name)] = v
		p.mu.Unlock()
		p.cfg.Log.Info("adopting pod", "pod", podKey(r.Pod.Namespace, r.Pod.Name), "vm", r.VM, "restarts", r.RestartCount)
		p.launch(ctx, v, true)
	}
	return nil
}

// launch starts the worker that boots and follows v's pod VM.
func (p *Provider) launch(ctx context.Context, v *podVM, adopt bool) {
	wctx, cancel := context.WithCancel(ctx)
	v.cancel, v.done = cancel, make(chan struct{})
	go func() {
		defer close(v.done)
		p.work(wctx, v, adopt)
	}()
}

// CreatePod takes a pod bound to the node: its pod VM is booted in the
// background and the pod reports progress through its status.
func (p *Provider) CreatePod(ctx context.Context, pod *corev1.Pod) error {
	key := podKey(pod.Namespace, pod.Name)
	v := &podVM{pod: stripStatus(pod), vm: VMName(pod)}
	v.status = pendingStatus(p.cfg, v.pod)
	p.mu.Lock()
	if old, ok := p.pods[key]; ok && old.pod.UID == pod.UID {
		p.mu.Unlock()
		return nil
	}
	p.pods[key] = v
	p.mu.Unlock()
	if err := p.saveRecord(record{Pod: v.pod, VM: v.vm}); err != nil {
		return err
	}
	p.cfg.Log.Info("pod bound", "pod", key, "vm", v.vm, "image", firstImage(pod))
	// The worker outlives the pod controller's call.
	p.launch(context.WithoutCancel(ctx), v, false)
	return nil
}

// UpdatePod keeps the new labels, annotations and tolerations; a pod VM
// is not changed while it runs.
func (p *Provider) UpdatePod(_ context.Context, pod *corev1.Pod) error {
	p.mu.Lock()
	v, ok := p.pods[podKey(pod.Namespace, pod.Name)]
	if ok {
		v.pod = stripStatus(pod)
	}
	p.mu.Unlock()
	if !ok {
		return errdefs.NotFoundf("pod %s/%s is not on this node", pod.Namespace, pod.Name)
	}
	return p.saveRecord(record{Pod: v.pod, VM: v.vm, RestartCount: v.restarts})
}

// DeletePod starts removing the pod: its pod VM is stopped (ACPI
// shutdown within the pod's grace period, at most 30 s, then power off)
// and removed with its record in the background, as a kubelet kills a
// container, while nodeutil removes the pod from the API server after the
// grace period. It may be called again meanwhile.
func (p *Provider) DeletePod(ctx context.Context, pod *corev1.Pod) error {
	key := podKey(pod.Namespace, pod.Name)
	p.mu.Lock()
	v, ok := p.pods[key]
	deleting := ok && v.deleting
	if ok {
		v.deleting = true
	}
	p.mu.Unlock()
	if !ok {
		return errdefs.NotFoundf("pod %s/%s is not on this node", pod.Namespace, pod.Name)
	}
	if deleting {
		return nil
	}
	grace := 30 * time.Second
	if s := pod.DeletionGracePeriodSeconds; s != nil && time.Duration(*s)*time.Second < grace {
		grace = time.Duration(max(*s, 0)) * time.Second
	}
	p.removals.Add(1)
	go func() {
		defer p.removals.Done()
		if err := p.remove(context.WithoutCancel(ctx), key, v, grace); err != nil {
			// The record stays: the next start of the agent adopts the pod
			// VM, and nodeutil deletes it again as a pod it no longer has.
			p.cfg.Log.Error("pod VM not removed", "pod", key, "vm", v.vm, "err", err)
			p.mu.Lock()
			v.deleting = false
			p.mu.Unlock()
		}
	}()
	return nil
}

// remove stops the worker and the pod VM, and removes the pod VM and the
// record.
func (p *Provider) remove(ctx context.Context, key string, v *podVM, grace time.Duration) error {
	v.cancel()
	<-v.done
	rt, err := p.openRuntime(ctx, runtime.RegistryOptions{})
	if err != nil {
		return fmt.Errorf("pod %s: remove pod VM %s: %w", key, v.vm, err)
	}
	defer rt.Close()
	if err := rt.Stop(ctx, v.vm, grace); err != nil && !errors.Is(err, runtime.ErrNotFound) {
		return fmt.Errorf("pod %s: %w", key, err)
	}
	if err := rt.Remove(ctx, v.vm, true); err != nil && !errors.Is(err, runtime.ErrNotFound) {
		return fmt.Errorf("pod %s: %w", key, err)
	}
	if err := p.removeRecord(v.vm); err != nil {
		return err
	}
	p.mu.Lock()
	if p.pods[key] == v {
		delete(p.pods, key)
	}
	p.mu.Unlock()
	p.cfg.Log.Info("pod deleted", "pod", key, "vm", v.vm)
	return nil
}

// GetPod returns the pod with its current status.
func (p *Provider) GetPod(_ context.Context, namespace, name string) (*corev1.Pod, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	v, ok := p.pods[podKey(namespace, name)]
	if !ok {
		return nil, errdefs.NotFoundf("pod %s/%s is not on this node", namespace, name)
	}
	out := v.pod.DeepCopy()
	out.Status = *v.status.DeepCopy()
	return out, nil
}

// GetPodStatus returns the pod's current status.
func (p *Provider) GetPodStatus(ctx context.Context, namespace, name string) (*corev1.PodStatus, error) {
	pod, err := p.GetPod(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	return &pod.Status, nil
}

// GetPods returns every pod the agent runs, with their status.
func (p *Provider) GetPods(context.Context) ([]*corev1.Pod, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*corev1.Pod, 0, len(p.pods))
	for _, v := range p.pods {
		pod := v.pod.DeepCopy()
		pod.Status = *v.status.DeepCopy()
		out = append(out, pod)
	}
	return out, nil
}

// setStatus changes v's status under the lock.
func (p *Provider) setStatus(v *podVM, f func(s *corev1.PodStatus)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f(&v.status)
}

// openRuntime opens a runtime connection for one boot or removal, with
// the registry settings of the pod's image.
func (p *Provider) openRuntime(ctx context.Context, ro runtime.RegistryOptions) (*runtime.Runtime, error) {
	return runtime.New(ctx, runtime.WithURI(p.cfg.URI), runtime.WithStateDir(p.cfg.StateDir),
		runtime.WithRegistry(ro), runtime.WithLogger(p.cfg.Log))
}

// getVM reads a pod VM's record and live state over the shared
// connection, reopening it once when libvirtd went away meanwhile.
func (p *Provider) getVM(ctx context.Context, name string) (*runtime.PodVM, error) {
	for attempt := 0; ; attempt++ {
		p.mu.Lock()
		rt := p.rt
		p.mu.Unlock()
		if rt == nil {
			var err error
			if rt, err = p.openRuntime(ctx, runtime.RegistryOptions{}); err != nil {
				return nil, err
			}
			p.mu.Lock()
			if p.rt == nil {
				p.rt = rt
			} else {
				rt.Close()
				rt = p.rt
			}
			p.mu.Unlock()
		}
		vm, err := rt.Get(ctx, name)
		if err == nil || errors.Is(err, runtime.ErrNotFound) || attempt > 0 {
			return vm, err
		}
		p.mu.Lock()
		if p.rt == rt {
			p.rt = nil
			rt.Close()
		}
		p.mu.Unlock()
	}
}

// close ends the workers (pod VMs keep running) and the shared connection.
func (p *Provider) close() {
	p.mu.Lock()
	pods := make([]*podVM, 0, len(p.pods))
	for _, v := range p.pods {
		pods = append(pods, v)
	}
	p.mu.Unlock()
	for _, v := range pods {
		v.cancel()
		<-v.done
	}
	p.removals.Wait()
	p.mu.Lock()
	if p.rt != nil {
		p.rt.Close()
		p.rt = nil
	}
	p.mu.Unlock()
}

// stripStatus copies a pod without its status, as the agent keeps it.
func stripStatus(pod *corev1.Pod) *corev1.Pod {
	out := pod.DeepCopy()
	out.Status = corev1.PodStatus{QOSClass: pod.Status.QOSClass} // the API server's, which may not change
	out.ResourceVersion = ""
	return out
}

func firstImage(pod *corev1.Pod) string {
	if len(pod.Spec.Containers) == 0 {
		return ""
	}
	return pod.Spec.Containers[0].Image
}
