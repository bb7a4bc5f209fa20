package kubevirt

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubevirtv1 "kubevirt.io/api/core/v1"

	"github.com/podvm-migrate/podvm-migrate/testenv/kube"
)

// TestApplyOnAPIServer applies the test specs to a real kube-apiserver
// with the KubeVirt CRDs, reads them back through client-go and kubectl,
// reapplies them, plays KubeVirt's part to test waiting, and checks the
// error cases.
func TestApplyOnAPIServer(t *testing.T) {
	k := kube.StartForTest(t, kube.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := NewClient(k.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	const ns = "migrated"
	if _, err := c.Kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	m, err := BuildAll(testSpecs(), testOptions(ns))
	if err != nil {
		t.Fatal(err)
	}

	first, err := c.Apply(ctx, m, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := actions(first); got != "DataVolume/web01-disk1 created, VirtualMachine/web01 created, DataVolume/legacy-db-disk0 created, VirtualMachine/legacy-db created" {
		t.Fatalf("first apply: %s", got)
	}

	t.Run("read back through client-go", func(t *testing.T) {
		for _, p := range m.PodVMs {
			got, err := c.KubeVirt.KubevirtV1().VirtualMachines(ns).Get(ctx, p.VM.Name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			// The server keeps every mapped field: nothing pruned, nothing changed.
			if !equality.Semantic.DeepEqual(got.Spec, p.VM.Spec) {
				t.Errorf("%s: spec read back differs:\ngot  %+v\nwant %+v", p.VM.Name, got.Spec, p.VM.Spec)
			}
			for k, v := range p.VM.Labels {
				if got.Labels[k] != v {
					t.Errorf("%s: label %s=%q, want %q", p.VM.Name, k, got.Labels[k], v)
				}
			}
			for k, v := range p.VM.Annotations {
				if got.Annotations[k] != v {
					t.Errorf("%s: annotation %s=%q, want %q", p.VM.Name, k, got.Annotations[k], v)
				}
			}
			for _, dv := range p.DataVolumes {
				gotDV, err := c.CDI.CdiV1beta1().DataVolumes(ns).Get(ctx, dv.Name, metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if !equality.Semantic.DeepEqual(gotDV.Spec, dv.Spec) {
					t.Errorf("%s: spec read back differs:\ngot  %+v\nwant %+v", dv.Name, gotDV.Spec, dv.Spec)
				}
			}
		}
	})

	t.Run("read back through kubectl", func(t *testing.T) {
		tests := []struct{ resource, jsonpath, want string }{
			{"vm/web01", "{.spec.runStrategy}", "Always"},
			{"vm/web01", "{.spec.template.spec.domain.cpu.sockets} {.spec.template.spec.domain.cpu.cores} {.spec.template.spec.domain.cpu.threads}", "2 2 1"},
			{"vm/web01", "{.spec.template.spec.domain.memory.guest}", "4Gi"},
			{"vm/web01", "{.spec.template.spec.domain.firmware.bootloader.efi.secureBoot} {.spec.template.spec.domain.features.smm.enabled}", "true true"},
			{"vm/web01", "{.spec.template.spec.domain.firmware.uuid}", "4212a3b4-c5d6-47e8-9f01-23456789abcd"},
			{"vm/web01", "{.spec.template.spec.domain.devices.tpm.persistent}", "true"},
			{"vm/web01", "{.spec.template.spec.domain.devices.disks[*].disk.bus}", "virtio scsi"},
			{"vm/web01", "{.spec.template.spec.volumes[0].containerDisk.image}", "registry.example.com/podvms/web01:v1"},
			{"vm/web01", "{.spec.template.spec.volumes[1].dataVolume.name}", "web01-disk1"},
			{"vm/web01", "{.spec.template.spec.domain.devices.interfaces[*].macAddress}", "00:50:56:aa:bb:01 00:50:56:aa:bb:02"},
			{"vm/web01", "{.spec.template.spec.networks[1].multus.networkName}", "prod/vlan100"},
			{"vm/web01", "{.metadata.labels.podvm-migrate\\.io/source-moref}", "vm-42"},
			{"vm/legacy-db", "{.spec.template.spec.domain.devices.disks[0].disk.bus} {.spec.template.spec.domain.devices.interfaces[0].model}", "sata e1000e"},
			{"dv/web01-disk1", "{.spec.storage.storageClassName} {.spec.storage.resources.requests.storage}", "fast-ssd 100Gi"},
		}
		for _, tt := range tests {
			out, err := exec.CommandContext(ctx, "kubectl", "--kubeconfig", k.Kubeconfig, "-n", ns, "get", tt.resource, "-o", "jsonpath="+tt.jsonpath).CombinedOutput()
			if err != nil {
				t.Fatalf("kubectl get %s: %v: %s", tt.resource, err, out)
			}
			if string(out) != tt.want {
				t.Errorf("kubectl get %s -o jsonpath=%s: %q, want %q", tt.resource, tt.jsonpath, out, tt.want)
			}
		}
	})

	t.Run("rerun changes nothing", func(t *testing.T) {
		again, err := c.Apply(ctx, m, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i, a := range again {
			if a.Action != ActionUnchanged || a.ResourceVersion != first[i].ResourceVersion {
				t.Errorf("%s/%s: %s, resourceVersion %s -> %s", a.Kind, a.Name, a.Action, first[i].ResourceVersion, a.ResourceVersion)
			}
		}
	})

	t.Run("a changed spec is configured", func(t *testing.T) {
		specs := testSpecs()
		specs[1].MemoryMiB = 12288
		m2, err := BuildAll(specs, testOptions(ns))
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.Apply(ctx, m2, nil)
		if err != nil {
			t.Fatal(err)
		}
		if a := actions(got); !strings.Contains(a, "VirtualMachine/legacy-db configured") || !strings.Contains(a, "VirtualMachine/web01 unchanged") {
			t.Errorf("apply after a change: %s", a)
		}
		if _, err := c.Apply(ctx, m, nil); err != nil { // back to the original
			t.Fatal(err)
		}
	})

	t.Run("wait for ready", func(t *testing.T) {
		// No KubeVirt controller runs: play its part.
		seen := newProgressLog()
		wctx, stop := context.WithCancel(ctx)
		defer stop()
		played := make(chan error, 1)
		go func() { played <- playController(wctx, c, ns, seen) }()
		err := c.WaitReady(ctx, m, 100*time.Millisecond, func(p Progress) { seen.add(p.String()) })
		stop() // a controller still waiting for a line the wait never reported gives up
		if perr := <-played; perr != nil {
			t.Errorf("controller: %v", perr)
		}
		if err != nil {
			t.Fatal(err)
		}
		text := seen.text()
		for _, want := range []string{"migrated/web01: Starting", "migrated/web01: Running, ready", "migrated/legacy-db: Running, ready"} {
			if !strings.Contains(text, want) {
				t.Errorf("progress lacks %q:\n%s", want, text)
			}
		}
	})

	t.Run("invalid object", func(t *testing.T) {
		bad, err := BuildAll(testSpecs()[:1], testOptions(ns))
		if err != nil {
			t.Fatal(err)
		}
		bad.PodVMs[0].VM.Name = "web02"
		bad.PodVMs[0].DataVolumes = nil
		bad.PodVMs[0].VM.Spec.Template = nil
		_, err = c.Apply(ctx, bad, nil)
		wantErr(t, err, "virtualmachine migrated/web02: invalid:", "spec.template", "must be of type object")
	})

	t.Run("missing namespace", func(t *testing.T) {
		other, err := BuildAll(testSpecs(), testOptions("elsewhere"))
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Apply(ctx, other, nil)
		wantErr(t, err, "datavolume elsewhere/web01-disk1:", `namespace "elsewhere" does not exist`)
	})

	t.Run("forbidden", func(t *testing.T) {
		u, err := NewClient(k.UserKubeconfig)
		if err != nil {
			t.Fatal(err)
		}
		_, err = u.Apply(ctx, m, nil)
		wantErr(t, err, "forbidden", "podvm-nobody")
	})

	t.Run("wrong kubeconfig", func(t *testing.T) {
		_, err := NewClient(filepath.Join(t.TempDir(), "missing"))
		wantErr(t, err, "kubeconfig", "missing")

		raw, err := os.ReadFile(k.Kubeconfig)
		if err != nil {
			t.Fatal(err)
		}
		dead := filepath.Join(t.TempDir(), "kubeconfig")
		closed := strings.Replace(string(raw), k.URL, "https://127.0.0.1:1", 1)
		if err := os.WriteFile(dead, []byte(closed), 0o600); err != nil {
			t.Fatal(err)
		}
		d, err := NewClient(dead)
		if err != nil {
			t.Fatal(err)
		}
		_, err = d.Apply(ctx, m, nil)
		wantErr(t, err, "cannot reach the Kubernetes API server")
	})
}

func TestApplyWithoutKubeVirt(t *testing.T) {
	k := kube.StartForTest(t, kube.Options{NoCRDs: true})
	c, err := NewClient(k.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	m, err := BuildAll(testSpecs(), testOptions("default"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Apply(context.Background(), m, nil)
	wantErr(t, err, "KubeVirt is not installed")
}

// playController writes the status KubeVirt's controller would: Starting,
// then Running and ready. It moves on from Starting only once the wait has
// reported it for both VMs (seen), so the wait reports every state however
// slowly a loaded machine polls.
func playController(ctx context.Context, c *Client, ns string, seen *progressLog) error {
	api := c.KubeVirt.KubevirtV1().VirtualMachines(ns)
	for _, step := range []kubevirtv1.VirtualMachineStatus{
		{PrintableStatus: kubevirtv1.VirtualMachineStatusStarting, Created: true},
		{PrintableStatus: kubevirtv1.VirtualMachineStatusRunning, Created: true, Ready: true, Conditions: []kubevirtv1.VirtualMachineCondition{
			{Type: kubevirtv1.VirtualMachineReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()},
		}},
	} {
		for _, name := range []string{"web01", "legacy-db"} {
			vm, err := api.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			vm.Status = step
			if _, err := api.UpdateStatus(ctx, vm, metav1.UpdateOptions{}); err != nil {
				return err
			}
		}
		if step.Ready {
			return nil
		}
		for _, name := range []string{"web01", "legacy-db"} {
			if err := seen.waitFor(ctx, ns+"/"+name+": "+string(step.PrintableStatus)); err != nil {
				return err
			}
		}
	}
	return nil
}

func actions(as []Applied) string {
	var s []string
	for _, a := range as {
		s = append(s, fmt.Sprintf("%s/%s %s", a.Kind, a.Name, a.Action))
	}
	return strings.Join(s, ", ")
}

func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want an error with %q, got none", parts)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error is not one line: %q", err)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q lacks %q", err, p)
		}
	}
}
