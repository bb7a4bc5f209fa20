package kube

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"
)

func TestKubeVirtCRDsAreStructural(t *testing.T) {
	crds, err := KubeVirtCRDs()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"virtualmachines.kubevirt.io":         {"spec", "template", "spec", "domain", "cpu", "sockets"},
		"virtualmachineinstances.kubevirt.io": {"spec", "domain", "devices", "interfaces"},
		"datavolumes.cdi.kubevirt.io":         {"spec", "storage", "storageClassName"},
	}
	if len(crds) != len(want) {
		t.Fatalf("got %d CRDs, want %d", len(crds), len(want))
	}
	for _, crd := range crds {
		path, ok := want[crd.Name]
		if !ok {
			t.Errorf("unexpected CRD %s", crd.Name)
			continue
		}
		s := crd.Spec.Versions[0].Schema.OpenAPIV3Schema
		for i, p := range path {
			next, ok := s.Properties[p]
			if !ok {
				t.Fatalf("%s: no %s in the schema", crd.Name, strings.Join(path[:i+1], "."))
			}
			s = &next
		}
		raw, err := yaml.Marshal(crd)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(raw), "$ref") {
			t.Errorf("%s: schema still holds a $ref", crd.Name)
		}
	}
}

func TestStartKube(t *testing.T) {
	k := StartForTest(t, Options{})
	ctx := context.Background()

	out, err := exec.CommandContext(ctx, "kubectl", "--kubeconfig", k.Kubeconfig, "api-resources", "--api-group", "kubevirt.io", "-o", "name").CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl api-resources: %v: %s", err, out)
	}
	for _, r := range []string{"virtualmachines.kubevirt.io", "virtualmachineinstances.kubevirt.io"} {
		if !strings.Contains(string(out), r) {
			t.Errorf("kubectl api-resources does not list %s:\n%s", r, out)
		}
	}

	dyn, err := dynamic.NewForConfig(k.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	vms := dyn.Resource(schema.GroupVersionResource{Group: "kubevirt.io", Version: "v1", Resource: "virtualmachines"}).Namespace("default")
	vm := func(name string, spec map[string]any) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
			"metadata": map[string]any{"name": name}, "spec": spec,
		}}
	}
	good := map[string]any{
		"runStrategy": "Halted",
		"template": map[string]any{"spec": map[string]any{
			"domain": map[string]any{
				"cpu":       map[string]any{"sockets": int64(1), "cores": int64(2), "threads": int64(1)},
				"memory":    map[string]any{"guest": "1Gi"},
				"devices":   map[string]any{"disks": []any{map[string]any{"name": "disk0", "disk": map[string]any{"bus": "virtio"}}}},
				"resources": map[string]any{"requests": map[string]any{"memory": "1Gi"}},
			},
			"volumes": []any{map[string]any{"name": "disk0", "containerDisk": map[string]any{"image": "example.com/web01:latest"}}},
		}},
	}
	if _, err := vms.Create(ctx, vm("good", good), metav1.CreateOptions{}); err != nil {
		t.Fatalf("a valid VirtualMachine was rejected: %v", err)
	}

	tests := []struct {
		name string
		spec map[string]any
		want string
	}{
		{"no template", map[string]any{"runStrategy": "Always"}, "spec.template: Required value"},
		{"cpu cores as text", map[string]any{"template": map[string]any{"spec": map[string]any{
			"domain": map[string]any{"cpu": map[string]any{"cores": "two"}, "devices": map[string]any{}}}}}, "spec.template.spec.domain.cpu.cores"},
		{"volume without name", map[string]any{"template": map[string]any{"spec": map[string]any{
			"domain": map[string]any{"devices": map[string]any{}}, "volumes": []any{map[string]any{"containerDisk": map[string]any{"image": "x"}}}}}}, "name: Required value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := vms.Create(ctx, vm("bad", tt.spec), metav1.CreateOptions{})
			if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("want an Invalid error naming %q, got %v", tt.want, err)
			}
		})
	}

	cfg, err := clientcmd.BuildConfigFromFlags("", k.UserKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	userDyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = userDyn.Resource(schema.GroupVersionResource{Group: "kubevirt.io", Version: "v1", Resource: "virtualmachines"}).
		Namespace("default").Create(ctx, vm("nope", good), metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("the unprivileged user: want Forbidden, got %v", err)
	}
}
