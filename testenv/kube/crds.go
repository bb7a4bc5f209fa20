package kube

import (
	"context"
	"fmt"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
)

// crdInfo names one custom resource of KubeVirt or CDI and the OpenAPI
// definition its schema comes from.
type crdInfo struct {
	group, version, kind, plural, singular, definition string
	shortNames                                         []string
	columns                                            []apiextensionsv1.CustomResourceColumnDefinition
}

// kubeVirtCRDs are the resources podvm-migrate creates or reads on a
// KubeVirt cluster: VirtualMachine, VirtualMachineInstance and CDI's
// DataVolume.
var kubeVirtCRDs = []crdInfo{
	{
		group: "kubevirt.io", version: "v1", kind: "VirtualMachine", plural: "virtualmachines", singular: "virtualmachine",
		definition: "kubevirt.io/api/core/v1.VirtualMachine", shortNames: []string{"vm", "vms"},
		columns: []apiextensionsv1.CustomResourceColumnDefinition{
			{Name: "Age", Type: "date", JSONPath: ".metadata.creationTimestamp"},
			{Name: "Status", Type: "string", JSONPath: ".status.printableStatus"},
			{Name: "Ready", Type: "string", JSONPath: ".status.conditions[?(@.type=='Ready')].status"},
		},
	},
	{
		group: "kubevirt.io", version: "v1", kind: "VirtualMachineInstance", plural: "virtualmachineinstances", singular: "virtualmachineinstance",
		definition: "kubevirt.io/api/core/v1.VirtualMachineInstance", shortNames: []string{"vmi", "vmis"},
		columns: []apiextensionsv1.CustomResourceColumnDefinition{
			{Name: "Age", Type: "date", JSONPath: ".metadata.creationTimestamp"},
			{Name: "Phase", Type: "string", JSONPath: ".status.phase"},
			{Name: "IP", Type: "string", JSONPath: ".status.interfaces[0].ipAddress"},
			{Name: "NodeName", Type: "string", JSONPath: ".status.nodeName"},
			{Name: "Ready", Type: "string", JSONPath: ".status.conditions[?(@.type=='Ready')].status"},
		},
	},
	{
		group: "cdi.kubevirt.io", version: "v1beta1", kind: "DataVolume", plural: "datavolumes", singular: "datavolume",
		definition: "kubevirt.io/containerized-data-importer-api/pkg/apis/core/v1beta1.DataVolume", shortNames: []string{"dv", "dvs"},
		columns: []apiextensionsv1.CustomResourceColumnDefinition{
			{Name: "Phase", Type: "string", JSONPath: ".status.phase"},
			{Name: "Progress", Type: "string", JSONPath: ".status.progress"},
			{Name: "Age", Type: "date", JSONPath: ".metadata.creationTimestamp"},
		},
	},
}

// KubeVirtCRDs returns the CustomResourceDefinitions of VirtualMachine,
// VirtualMachineInstance and DataVolume, with structural schemas generated
// from the OpenAPI definitions that kubevirt client-go ships, so an API
// server rejects what a KubeVirt cluster would reject.
func KubeVirtCRDs() ([]*apiextensionsv1.CustomResourceDefinition, error) {
	b := newKubeVirtSchemaBuilder()
	var crds []*apiextensionsv1.CustomResourceDefinition
	for _, c := range kubeVirtCRDs {
		schema, err := b.topLevel(c.definition)
		if err != nil {
			return nil, fmt.Errorf("crd %s.%s: %w", c.plural, c.group, err)
		}
		crds = append(crds, &apiextensionsv1.CustomResourceDefinition{
			TypeMeta:   metav1.TypeMeta{APIVersion: "apiextensions.k8s.io/v1", Kind: "CustomResourceDefinition"},
			ObjectMeta: metav1.ObjectMeta{Name: c.plural + "." + c.group},
			Spec: apiextensionsv1.CustomResourceDefinitionSpec{
				Group: c.group,
				Names: apiextensionsv1.CustomResourceDefinitionNames{
					Plural: c.plural, Singular: c.singular, Kind: c.kind, ListKind: c.kind + "List",
					ShortNames: c.shortNames, Categories: []string{"all"},
				},
				Scope: apiextensionsv1.NamespaceScoped,
				Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
					Name: c.version, Served: true, Storage: true,
					Schema:                   &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: schema},
					Subresources:             &apiextensionsv1.CustomResourceSubresources{Status: &apiextensionsv1.CustomResourceSubresourceStatus{}},
					AdditionalPrinterColumns: c.columns,
				}},
			},
		})
	}
	return crds, nil
}

// InstallKubeVirtCRDs creates (or updates) the KubeVirt CRDs on the API
// server cfg points at and waits until each one is established.
func InstallKubeVirtCRDs(ctx context.Context, cfg *rest.Config) error {
	crds, err := KubeVirtCRDs()
	if err != nil {
		return err
	}
	cs, err := apiextensionsclient.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("crds: client: %w", err)
	}
	api := cs.ApiextensionsV1().CustomResourceDefinitions()
	for _, crd := range crds {
		_, err := api.Create(ctx, crd, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			var cur *apiextensionsv1.CustomResourceDefinition
			if cur, err = api.Get(ctx, crd.Name, metav1.GetOptions{}); err == nil {
				crd.ResourceVersion = cur.ResourceVersion
				_, err = api.Update(ctx, crd, metav1.UpdateOptions{})
			}
		}
		if err != nil {
			return fmt.Errorf("crd %s: %w", crd.Name, err)
		}
	}
	for _, crd := range crds {
		if err := waitEstablished(ctx, cs, crd.Name); err != nil {
			return err
		}
	}
	return nil
}

// waitEstablished polls a CRD until the API server serves it.
func waitEstablished(ctx context.Context, cs apiextensionsclient.Interface, name string) error {
	err := wait.PollUntilContextCancel(ctx, 50*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		crd, err := cs.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, fmt.Errorf("crd %s: %w", name, err)
		}
		for _, c := range crd.Status.Conditions {
			if c.Type == apiextensionsv1.NonStructuralSchema && c.Status == apiextensionsv1.ConditionTrue {
				return false, fmt.Errorf("crd %s: schema is not structural: %s", name, c.Message)
			}
			if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("crd %s: not established: %w", name, ctx.Err())
	}
	return err
}
