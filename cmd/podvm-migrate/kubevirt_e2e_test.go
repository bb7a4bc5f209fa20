package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podvm-migrate/podvm-migrate/kubevirt"
	"github.com/podvm-migrate/podvm-migrate/plan"
	"github.com/podvm-migrate/podvm-migrate/testenv/kube"
	"github.com/podvm-migrate/podvm-migrate/testenv/vcsim"
)

// TestKubeVirtFromVSphere is the whole KubeVirt path on real parts:
// discover the vCenter simulator's VMs (EFI, secure boot, vTPM, several
// NICs and disks), plan them, apply the plan to a real kube-apiserver with
// the KubeVirt CRDs, read every VirtualMachine back and rerun.
func TestKubeVirtFromVSphere(t *testing.T) {
	sim, err := vcsim.Start(context.Background(), vcsim.Options{VMs: 20, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	for _, kv := range sim.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	dir := t.TempDir()
	inv, planFile := filepath.Join(dir, "inventory.yaml"), filepath.Join(dir, "plan.yaml")
	if _, errs, code := execute(t, "discover", "--out", inv); code != exitOK {
		t.Fatalf("discover: exit %d: %s", code, errs)
	}
	if _, errs, code := execute(t, "plan", inv, "--network-map", "VM Network=pod", "--network-map", "*=migrated/vlan",
		"--storage-map", "*=standard", "--out", planFile); code != exitOK && code != exitBlocked {
		t.Fatalf("plan: exit %d: %s", code, errs)
	}
	data, err := os.ReadFile(planFile)
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.UnmarshalPlan(data)
	if err != nil {
		t.Fatal(err)
	}

	k := kube.StartForTest(t, kube.Options{})
	args := []string{"--kubeconfig", k.Kubeconfig, "kubevirt", "apply", planFile, "--registry", "registry.example.com/podvms", "-o", "json"}
	out, errs, code := execute(t, args...)
	if code != exitOK && code != exitBlocked {
		t.Fatalf("apply: exit %d: %s", code, errs)
	}
	var applied []kubevirt.Applied
	if err := json.Unmarshal([]byte(out), &applied); err != nil {
		t.Fatal(err)
	}

	specs, skipped, err := kubevirt.SelectSpecs(p, kubevirt.PlanSelection{})
	if err != nil {
		t.Fatal(err)
	}
	want, err := kubevirt.BuildAll(specs, kubevirt.Options{Namespace: "default", Registry: "registry.example.com/podvms"})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d VMs planned, %d blocked by the plan, %d not mappable to KubeVirt, %d applied as %d objects",
		len(p.VMs), len(skipped), len(want.Failed), len(want.PodVMs), len(applied))
	if len(want.PodVMs) < 10 {
		t.Fatalf("only %d of %d VMs run on KubeVirt: the test plan should hold mostly runnable VMs", len(want.PodVMs), len(p.VMs))
	}
	if (len(want.Failed) > 0) != (code == exitBlocked) || (len(want.Failed) > 0 && !strings.Contains(errs, "could not be mapped to KubeVirt")) {
		t.Errorf("apply: exit %d with %d unmappable VMs: %s", code, len(want.Failed), errs)
	}
	c, err := kubevirt.NewClient(k.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	features := map[string]int{}
	for _, w := range want.PodVMs {
		got, err := c.KubeVirt.KubevirtV1().VirtualMachines("default").Get(context.Background(), w.VM.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("%s: %v", w.VM.Name, err)
		}
		if !equality.Semantic.DeepEqual(got.Spec, w.VM.Spec) {
			t.Errorf("%s: the VirtualMachine read back differs from the mapping", w.VM.Name)
		}
		d := got.Spec.Template.Spec.Domain
		if d.Firmware.Bootloader.EFI != nil {
			features["efi"]++
			if *d.Firmware.Bootloader.EFI.SecureBoot {
				features["secure boot"]++
			}
		}
		if d.Devices.TPM != nil {
			features["vtpm"]++
		}
		if len(d.Devices.Interfaces) > 1 {
			features["several nics"]++
		}
		if len(w.DataVolumes) > 0 {
			features["datavolumes"]++
		}
	}
	t.Logf("VMs with: %v", features)

	out, errs, code = execute(t, args...)
	if code != exitOK && code != exitBlocked {
		t.Fatalf("rerun: exit %d: %s", code, errs)
	}
	var again []kubevirt.Applied
	if err := json.Unmarshal([]byte(out), &again); err != nil {
		t.Fatal(err)
	}
	for _, a := range again {
		if a.Action != kubevirt.ActionUnchanged {
			t.Errorf("rerun: %s %s %s", a.Kind, a.Name, a.Action)
		}
	}
}
