package migrate

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubevirtv1 "kubevirt.io/api/core/v1"

	"github.com/podvm-migrate/podvm-migrate/convert"
	"github.com/podvm-migrate/podvm-migrate/image"
	"github.com/podvm-migrate/podvm-migrate/kubevirt"
	"github.com/podvm-migrate/podvm-migrate/plan"
	"github.com/podvm-migrate/podvm-migrate/podvm"
	"github.com/podvm-migrate/podvm-migrate/runrecord"
	"github.com/podvm-migrate/podvm-migrate/testenv/kube"
	"github.com/podvm-migrate/podvm-migrate/testenv/registry"
	"github.com/podvm-migrate/podvm-migrate/testenv/testguest"
)

// playVirtController does what KubeVirt's controller would: it marks every
// VirtualMachine that appears in ns running and ready, until ctx ends.
func playVirtController(ctx context.Context, c *kubevirt.Client, ns string) {
	api := c.KubeVirt.KubevirtV1().VirtualMachines(ns)
	for ctx.Err() == nil {
		time.Sleep(200 * time.Millisecond)
		list, err := api.List(ctx, metav1.ListOptions{})
		if err != nil {
			continue
		}
		for i := range list.Items {
			vm := &list.Items[i]
			if vm.Status.Ready {
				continue
			}
			vm.Status = kubevirtv1.VirtualMachineStatus{PrintableStatus: kubevirtv1.VirtualMachineStatusRunning, Created: true, Ready: true,
				Conditions: []kubevirtv1.VirtualMachineCondition{{Type: kubevirtv1.VirtualMachineReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}}}
			_, _ = api.UpdateStatus(ctx, vm, metav1.UpdateOptions{})
		}
	}
}

func TestMigrateToKubeVirt(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	dir := t.TempDir()
	guest := filepath.Join(dir, "guest")
	if _, err := testguest.Build(ctx, testguest.Options{OutDir: guest}); err != nil {
		t.Fatal(err)
	}
	kube := kube.StartForTest(t, kube.Options{})
	reg, err := registry.Start(ctx, filepath.Join(dir, "registry"))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Stop()
	client, err := kubevirt.NewClient(kube.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	go playVirtController(ctx, client, "default")

	e := &e2e{dir: dir, guest: guest}
	e.plan = planLocal(t, e, "kv-sparse", "kv-stream")
	noVerify := false
	disks := &DiskPipeline{Open: LocalFiles(dir, convert.PathPolicy{})}
	target := &KubeVirtTarget{WorkDir: filepath.Join(dir, "tmp"),
		Client: client, Registry: reg.Addr + "/podvms", RegistryOpts: image.RegistryOptions{TLSVerify: &noVerify},
	}
	runDir := filepath.Join(dir, "run")
	r, err := NewRunner(e.plan, disks, target, Options{RunDir: runDir})
	if err != nil {
		t.Fatal(err)
	}
	results, err := r.Run(ctx)
	r.Close()
	if err != nil {
		t.Fatalf("%v: %+v", err, results)
	}
	for _, res := range results {
		vm, err := client.KubeVirt.KubevirtV1().VirtualMachines("default").Get(ctx, res.VM, metav1.GetOptions{})
		if err != nil || !kubevirt.IsReady(vm) || res.Accel != "kubevirt" {
			t.Fatalf("%s: %+v %v", res.VM, res, err)
		}
		info, err := image.Inspect(ctx, "docker://"+reg.Addr+"/podvms/"+res.VM+":latest", image.RegistryOptions{TLSVerify: &noVerify})
		if err != nil || info.Spec.Name != res.VM {
			t.Fatalf("pushed image: %+v %v", info, err)
		}
		want := reg.Addr + "/podvms/" + res.VM + "@" + info.ManifestDigest
		var image string
		for _, v := range vm.Spec.Template.Spec.Volumes {
			if v.ContainerDisk != nil {
				image = v.ContainerDisk.Image
			}
		}
		if image != want {
			t.Errorf("%s runs containerDisk %q, want the pushed image by digest %q", res.VM, image, want)
		}
	}
	// A rerun finds everything done: image digests match, VMs are ready.
	r2, err := NewRunner(e.plan, disks, target, Options{RunDir: runDir})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	if _, err := r2.Run(ctx); err != nil {
		t.Fatal(err)
	}
	events, _ := runrecord.ReadJournal(runDir)
	var skipped []string
	for _, ev := range events {
		if ev.Result == runrecord.ResultSkipped {
			skipped = append(skipped, ev.VM+"/"+ev.Phase)
		}
	}
	if len(skipped) != 6 {
		t.Errorf("rerun skipped %v; want transfer, package and ready of both VMs", skipped)
	}
}

// planLocal plans VMs whose disk is the test guest's sparse or stream VMDK.
func planLocal(t *testing.T, e *e2e, names ...string) *plan.Plan {
	t.Helper()
	full := newPlanFrom(t, e)
	var vms []plan.PlannedVM
	for i, n := range names {
		vm := full.VMs[i%2]
		vm.Name, vm.Spec.Name = n, n
		vms = append(vms, vm)
	}
	full.VMs = vms
	return full
}

func newPlanFrom(t *testing.T, e *e2e) *plan.Plan {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(e.guest, testguest.VMX))
	if err != nil || !strings.Contains(string(b), "guest.vmdk") {
		t.Fatalf("guest VMX: %v", err)
	}
	spec := func(disk string) podvm.Spec {
		return podvm.Spec{Name: "x", Source: podvm.SourceRef{Name: "x"}, Firmware: podvm.Firmware{Type: podvm.FirmwareBIOS},
			CPU: podvm.CPU{Sockets: 1, Cores: 1, Threads: 1}, MemoryMiB: 256, MachineType: "q35", Mode: podvm.ModeVirtio,
			Disks: []podvm.Disk{{Name: "disk0", Bus: podvm.BusVirtio, CapacityBytes: 64 << 20, Source: filepath.Join(e.guest, disk), File: "disk0.qcow2"}},
			NICs:  []podvm.NIC{{Name: "nic0", Model: podvm.NICVirtio, Network: plan.PodNetwork}}}
	}
	return &plan.Plan{APIVersion: plan.PlanAPIVersion, Kind: plan.KindPlan, Target: plan.DefaultTarget(),
		VMs: []plan.PlannedVM{{Status: plan.StatusReady, Spec: spec(testguest.VMDK)}, {Status: plan.StatusReady, Spec: spec(testguest.Stream)}}}
}
