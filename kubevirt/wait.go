package kubevirt

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	kubevirtv1 "kubevirt.io/api/core/v1"
)

// Progress is one change in a VirtualMachine's status while waiting.
type Progress struct {
	Namespace string        `json:"namespace"`
	Name      string        `json:"name"`
	Status    string        `json:"status"` // printableStatus, e.g. Provisioning, Starting, Running
	Ready     bool          `json:"ready"`
	Elapsed   time.Duration `json:"elapsed"`
}

// String is the progress line of one VM.
func (p Progress) String() string {
	state := p.Status
	if state == "" {
		state = "waiting for KubeVirt"
	}
	if p.Ready {
		state += ", ready"
	}
	return fmt.Sprintf("%s/%s: %s (%s)", p.Namespace, p.Name, state, p.Elapsed.Round(100*time.Millisecond))
}

// IsReady says whether KubeVirt reports a VirtualMachine ready: its status
// says so or its Ready condition is true.
func IsReady(vm *kubevirtv1.VirtualMachine) bool {
	if vm.Status.Ready {
		return true
	}
	for _, c := range vm.Status.Conditions {
		if c.Type == kubevirtv1.VirtualMachineReady && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// WaitReady polls every VirtualMachine of m until each one is ready or ctx
// ends, calling report whenever a VM's status changes.
func (c *Client) WaitReady(ctx context.Context, m *Manifest, interval time.Duration, report func(Progress)) error {
	if interval <= 0 {
		interval = time.Second
	}
	start := time.Now()
	last := map[string]Progress{}
	pending := map[string]*kubevirtv1.VirtualMachine{}
	for _, p := range m.PodVMs {
		pending[p.VM.Namespace+"/"+p.VM.Name] = p.VM
	}
	err := wait.PollUntilContextCancel(ctx, interval, true, func(ctx context.Context) (bool, error) {
		for key, want := range pending {
			vm, err := c.KubeVirt.KubevirtV1().VirtualMachines(want.Namespace).Get(ctx, want.Name, metav1.GetOptions{})
			if err != nil {
				return false, explain(err, "virtualmachine", key)
			}
			p := Progress{Namespace: vm.Namespace, Name: vm.Name, Status: string(vm.Status.PrintableStatus), Ready: IsReady(vm), Elapsed: time.Since(start)}
			if prev, ok := last[key]; !ok || prev.Status != p.Status || prev.Ready != p.Ready {
				last[key] = p
				if report != nil {
					report(p)
				}
			}
			if p.Ready {
				delete(pending, key)
			}
		}
		return len(pending) == 0, nil
	})
	if err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		var names []string
		for key, p := range last {
			if _, ok := pending[key]; ok {
				names = append(names, p.String())
			}
		}
		return fmt.Errorf("%d VirtualMachine(s) not ready: %v: %w", len(pending), names, ctx.Err())
	}
	return err
}
