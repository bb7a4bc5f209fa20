package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubevirtv1 "kubevirt.io/api/core/v1"

	"github.com/podvm-migrate/podvm-migrate/discover"
	"github.com/podvm-migrate/podvm-migrate/kubevirt"
	"github.com/podvm-migrate/podvm-migrate/testenv/kube"
)

// kubeVirtPlan plans web01 (ready) and db01 (blocked by a physical RDM)
// with the real planner and returns the plan file.
func kubeVirtPlan(t *testing.T) string {
	t.Helper()
	blocked := planVM("db01", "00:50:56:00:00:02")
	blocked.Hardware.Disks[0].RDM = &discover.RDM{Compatibility: "physicalMode"}
	inv := writeInventory(t, planVM("web01", "00:50:56:00:00:01"), blocked)
	pl := filepath.Join(t.TempDir(), "plan.yaml")
	if _, errs, code := execute(t, "plan", inv, "--network-map", "VM Network=pod", "--out", pl); code != exitBlocked {
		t.Fatalf("plan: exit %d: %s", code, errs)
	}
	return pl
}

func TestKubeVirtManifests(t *testing.T) {
	pl := kubeVirtPlan(t)
	out, errs, code := execute(t, "kubevirt", "manifests", pl, "-n", "apps", "--registry", "registry.example.com/podvms", "--tag", "v2")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"kind: VirtualMachine", "name: web01", "namespace: apps", "image: registry.example.com/podvms/web01:v2",
		`macAddress: "00:50:56:00:00:01"`, "runStrategy: Always"} {
		if !strings.Contains(out, want) {
			t.Errorf("manifests lack %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "db01") || !strings.Contains(errs, "skipped db01: blocked") {
		t.Errorf("the blocked VM must be skipped and said so; stderr %q", errs)
	}

	usage := [][]string{
		{"kubevirt", "manifests"},
		{"kubevirt", "manifests", pl, "--run-strategy", "Sometimes"},
		{"kubevirt", "manifests", pl, "--datavolume-min-size", "huge"},
		{"kubevirt", "manifests", pl, "--vm", "nope"},
		{"kubevirt", "convert-jobs", pl},
		{"kubevirt", "apply", pl, "--wait", "--run-strategy", "Halted"},
	}
	for _, args := range usage {
		if _, errs, code := execute(t, args...); code != exitUsage {
			t.Errorf("%v: exit %d (%s), want %d", args, code, errs, exitUsage)
		}
	}
}

func TestKubeVirtApplyCommand(t *testing.T) {
	pl := kubeVirtPlan(t)
	k := kube.StartForTest(t, kube.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := []string{"--kubeconfig", k.Kubeconfig, "kubevirt", "apply", pl, "--registry", "registry.example.com/podvms", "-o", "json"}

	for _, want := range []string{kubevirt.ActionCreated, kubevirt.ActionUnchanged} {
		out, errs, code := execute(t, args...)
		if code != exitOK {
			t.Fatalf("apply: exit %d: %s", code, errs)
		}
		var applied []kubevirt.Applied
		if err := json.Unmarshal([]byte(out), &applied); err != nil || len(applied) != 1 || applied[0].Action != want {
			t.Fatalf("apply: want one VM %s, got %s (%v)", want, out, err)
		}
		if !strings.Contains(errs, "virtualmachine default/web01 "+want) {
			t.Errorf("apply: no progress line on stderr: %q", errs)
		}
	}
	mac, err := exec.CommandContext(ctx, "kubectl", "--kubeconfig", k.Kubeconfig, "get", "vm", "web01",
		"-o", "jsonpath={.spec.template.spec.domain.devices.interfaces[0].macAddress} {.metadata.labels.podvm-migrate\\.io/podvm}").CombinedOutput()
	if err != nil || string(mac) != "00:50:56:00:00:01 web01" {
		t.Errorf("kubectl get vm web01: %q %v", mac, err)
	}

	t.Run("wait", func(t *testing.T) {
		c, err := kubevirt.NewClient(k.Kubeconfig)
		if err != nil {
			t.Fatal(err)
		}
		// Play KubeVirt: the VM starts running once the command has said it
		// waits for it, however long a loaded machine takes to get there.
		var errb watchedBuffer
		wctx, stop := context.WithCancel(ctx)
		defer stop()
		played := make(chan error, 1)
		go func() {
			if err := errb.waitFor(wctx, "default/web01: waiting for KubeVirt"); err != nil {
				played <- err
				return
			}
			vm, err := c.KubeVirt.KubevirtV1().VirtualMachines("default").Get(wctx, "web01", metav1.GetOptions{})
			if err != nil {
				played <- err
				return
			}
			vm.Status = kubevirtv1.VirtualMachineStatus{PrintableStatus: kubevirtv1.VirtualMachineStatusRunning, Ready: true}
			_, err = c.KubeVirt.KubevirtV1().VirtualMachines("default").UpdateStatus(wctx, vm, metav1.UpdateOptions{})
			played <- err
		}()
		var out bytes.Buffer
		code := run(context.Background(), append(args, "--wait", "--timeout", "30s"), &out, &errb)
		stop() // a controller still waiting for the line the command never printed gives up
		if err := <-played; err != nil {
			t.Errorf("playing KubeVirt: %v", err)
		}
		if errs := errb.String(); code != exitOK || !strings.Contains(errs, "default/web01: waiting for KubeVirt") || !strings.Contains(errs, "default/web01: Running, ready") {
			t.Errorf("apply --wait: exit %d, stderr:\n%s", code, errs)
		}
	})

	t.Run("convert jobs", func(t *testing.T) {
		c, err := kubevirt.NewClient(k.Kubeconfig)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			// Play the Job controller: the Job completes a moment later.
			api := c.Kube.BatchV1().Jobs("default")
			for ctx.Err() == nil {
				time.Sleep(500 * time.Millisecond)
				j, err := api.Get(ctx, "convert-web01-disk0", metav1.GetOptions{})
				if err != nil {
					continue
				}
				now := metav1.Now()
				j.Status = batchv1.JobStatus{StartTime: &now, CompletionTime: &now, Succeeded: 1, Conditions: []batchv1.JobCondition{
					{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: now},
					{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: now},
				}}
				if _, err := api.UpdateStatus(ctx, j, metav1.UpdateOptions{}); err != nil {
					t.Error(err)
				}
				return
			}
		}()
		out, errs, code := execute(t, "--kubeconfig", k.Kubeconfig, "kubevirt", "convert-jobs", pl, "--image", "registry.example.com/podvm-migrate:v1",
			"--source-pvc", "vmware", "--output-pvc", "images", "--registry", "registry.example.com/podvms", "-o", "table")
		if code != exitOK {
			t.Fatalf("convert-jobs: exit %d: %s", code, errs)
		}
		for _, want := range []string{"convert-web01-disk0", "/vms/web01.vmdk", "pvc images:web01/disk0.qcow2", "succeeded"} {
			if !strings.Contains(out, want) {
				t.Errorf("convert-jobs output lacks %q:\n%s", want, out)
			}
		}
		if !strings.Contains(errs, "job default/convert-web01-disk0 created") || !strings.Contains(errs, "succeeded") {
			t.Errorf("convert-jobs stderr:\n%s", errs)
		}
	})

	t.Run("errors", func(t *testing.T) {
		bare := kube.StartForTest(t, kube.Options{NoCRDs: true})
		tests := []struct {
			name string
			args []string
			want string
		}{
			{"no CRDs", []string{"--kubeconfig", bare.Kubeconfig}, "KubeVirt is not installed"},
			{"forbidden", []string{"--kubeconfig", k.UserKubeconfig}, "forbidden: User \"podvm-nobody\" cannot get resource \"virtualmachines\""},
			{"missing kubeconfig", []string{"--kubeconfig", filepath.Join(t.TempDir(), "nope")}, "kubeconfig"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				a := append(tt.args, "kubevirt", "apply", pl, "--registry", "registry.example.com/podvms")
				_, errs, code := execute(t, a...)
				if code != exitError || !strings.Contains(errs, tt.want) {
					t.Errorf("exit %d, stderr %q; want exit %d with %q", code, errs, exitError, tt.want)
				}
			})
		}
	})
}

// watchedBuffer is a command's stderr that a test can wait on: it says
// when a line has been written while the command still runs.
type watchedBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{} // closed and replaced at each write
}

func (w *watchedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.changed != nil {
		close(w.changed)
	}
	w.changed = make(chan struct{})
	return w.b.Write(p)
}

func (w *watchedBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// waitFor returns once s has been written, or with ctx's error.
func (w *watchedBuffer) waitFor(ctx context.Context, s string) error {
	for {
		w.mu.Lock()
		if w.changed == nil {
			w.changed = make(chan struct{})
		}
		found, changed := strings.Contains(w.b.String(), s), w.changed
		w.mu.Unlock()
		if found {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("nothing written with %q: %w", s, ctx.Err())
		case <-changed:
		}
	}
}
