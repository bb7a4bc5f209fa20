package migrate

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/podvm-migrate/podvm-migrate/image"
	"github.com/podvm-migrate/podvm-migrate/node"
	"github.com/podvm-migrate/podvm-migrate/plan"
	"github.com/podvm-migrate/podvm-migrate/podvm"
)

// Labels on the pods the pods target applies.
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	LabelVM        = "podvm-migrate.io/vm" // the pod VM's name
)

// PodsTarget runs pod VMs as pods on the nodes that run podvm-migrate's
// node agent: the image is pushed to a registry, and a Pod per VM, which
// tolerates the pod VM taint and selects the pod VM nodes, is applied and
// followed until it is Ready. Kubernetes' scheduler picks the node.
type PodsTarget struct {
	Client       kubernetes.Interface
	Namespace    string                // default "default"
	Registry     string                // HOST[:PORT]/PREFIX the images are pushed to and the nodes pull from
	RegistryOpts image.RegistryOptions // TLS and credentials for the push
	PullSecret   string                // an imagePullSecret for the nodes' pulls, if the registry wants one
	ReadyTimeout time.Duration         // default 10 minutes
	WorkDir      string                // scratch for image builds
	Compress     image.Compression     // "" is gzip
}

var _ Target = (*PodsTarget)(nil)

func (t *PodsTarget) namespace() string {
	if t.Namespace == "" {
		return "default"
	}
	return t.Namespace
}

// ImageRef is docker://REGISTRY/NAME:latest, where the image is pushed.
func (t *PodsTarget) ImageRef(_, name string) string {
	return registryRef(t.Registry, name)
}

// Package builds the image and pushes it; the pod pulls it by digest.
func (t *PodsTarget) Package(ctx context.Context, vm *plan.PlannedVM, disks []string, ref string) (*PackageResult, error) {
	return pushImage(ctx, vm, disks, ref, t.WorkDir, t.RegistryOpts, t.Compress)
}

// ImageOK checks the registry still holds the image that was pushed.
func (t *PodsTarget) ImageOK(ctx context.Context, ref, digest string) bool {
	return imageOK(ctx, ref, digest, t.RegistryOpts)
}

// Pod is the pod of a pod VM: its one container runs the image, asks for
// the spec's vCPUs and memory (requests equal limits), tolerates the pod VM
// taint and selects pod VM nodes.
func (t *PodsTarget) Pod(spec podvm.Spec, img string) *corev1.Pod {
	res := corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewQuantity(int64(spec.CPU.VCPUs()), resource.DecimalSI),
		corev1.ResourceMemory: resource.MustParse(strconv.FormatInt(spec.MemoryMiB, 10) + "Mi"),
	}
	no := false
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: spec.Name, Namespace: t.namespace(),
			Labels: map[string]string{LabelManagedBy: "podvm-migrate", LabelVM: spec.Name}},
		Spec: corev1.PodSpec{
			RestartPolicy:                corev1.RestartPolicyAlways,
			AutomountServiceAccountToken: &no, // nothing in a migrated guest reads it
			Tolerations:                  []corev1.Toleration{node.Toleration()},
			NodeSelector:                 node.NodeSelector(),
			Containers: []corev1.Container{{Name: "vm", Image: img,
				Resources: corev1.ResourceRequirements{Requests: res, Limits: res.DeepCopy()}}},
		},
	}
	if t.PullSecret != "" {
		p.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: t.PullSecret}}
	}
	return p
}

// Boot applies the pod (replacing one that runs another image) and waits
// until it is Ready; a pod that fails says why.
func (t *PodsTarget) Boot(ctx context.Context, vm *plan.PlannedVM, ref string) (*BootResult, error) {
	want := t.Pod(vm.Spec, strings.TrimPrefix(ref, "docker://"))
	api := t.Client.CoreV1().Pods(want.Namespace)
	key := want.Namespace + "/" + want.Name
	start := time.Now()
	old, err := api.Get(ctx, want.Name, metav1.GetOptions{})
	switch {
	case err == nil && len(old.Spec.Containers) == 1 && old.Spec.Containers[0].Image == want.Spec.Containers[0].Image && old.Status.Phase != corev1.PodFailed:
		// already there: wait for it
	case err == nil:
		if err := t.deleteAndWait(ctx, want.Namespace, want.Name); err != nil {
			return nil, err
		}
		fallthrough
	case apierrors.IsNotFound(err):
		if _, err := api.Create(ctx, want, metav1.CreateOptions{FieldManager: "podvm-migrate"}); err != nil {
			return nil, fmt.Errorf("pod %s: create: %w", key, err)
		}
	default:
		return nil, fmt.Errorf("pod %s: %w", key, err)
	}
	applied := time.Since(start)
	timeout := t.ReadyTimeout
	if timeout == 0 {
		timeout = 10 * time.Minute
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last *corev1.Pod
	err = wait.PollUntilContextCancel(wctx, time.Second, true, func(ctx context.Context) (bool, error) {
		p, err := api.Get(ctx, want.Name, metav1.GetOptions{})
		if err != nil {
			return false, nil // transient; the timeout ends it
		}
		last = p
		if p.Status.Phase == corev1.PodFailed {
			return false, fmt.Errorf("pod %s failed: %s: %s", key, p.Status.Reason, p.Status.Message)
		}
		return PodReady(p), nil
	})
	if err != nil {
		if wctx.Err() != nil && ctx.Err() == nil {
			return nil, fmt.Errorf("pod %s not ready within %s: %s (is a podvm-migrate node agent running, and can it pull from %s?)", key, timeout, podState(last), t.Registry)
		}
		return nil, err
	}
	return &BootResult{Accel: "pods", Started: applied, ReadyAfter: time.Since(start) - applied}, nil
}

// deleteAndWait removes a pod and waits until it is gone.
func (t *PodsTarget) deleteAndWait(ctx context.Context, ns, name string) error {
	api := t.Client.CoreV1().Pods(ns)
	if err := api.Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("pod %s/%s: replace: %w", ns, name, err)
	}
	return wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := api.Get(ctx, name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
}

// Running reports whether the pod exists and is Ready.
func (t *PodsTarget) Running(ctx context.Context, vm *plan.PlannedVM) bool {
	p, err := t.Client.CoreV1().Pods(t.namespace()).Get(ctx, vm.Spec.Name, metav1.GetOptions{})
	return err == nil && PodReady(p)
}

// PodReady reports the pod's Ready condition.
func PodReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// podState says where a pod got to, for a timeout's message.
func podState(p *corev1.Pod) string {
	if p == nil {
		return "never seen"
	}
	if p.Spec.NodeName == "" {
		return "not scheduled to any node"
	}
	s := fmt.Sprintf("phase %s on node %s", p.Status.Phase, p.Spec.NodeName)
	for _, cs := range p.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil {
			s += fmt.Sprintf(", waiting: %s %s", w.Reason, w.Message)
		}
	}
	return s
}

// registryRef is docker://REGISTRY/NAME:latest.
func registryRef(registry, name string) string {
	return "docker://" + strings.TrimSuffix(registry, "/") + "/" + name + ":latest"
}

// pushImage builds the image, pushes it to a registry and returns it by
// digest, so a rebuilt image is never mistaken for the one running.
func pushImage(ctx context.Context, vm *plan.PlannedVM, disks []string, ref, workDir string, ro image.RegistryOptions, comp image.Compression) (*PackageResult, error) {
	pr, err := buildImage(ctx, vm, disks, ref, workDir, ro, comp, false)
	if err != nil {
		return nil, err
	}
	pr.Ref = strings.TrimSuffix(ref, ":latest") + "@" + pr.Digest
	return pr, nil
}
