package kubevirt

import (
	"context"
	"encoding/json"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// What Apply did to an object.
const (
	ActionCreated    = "created"
	ActionConfigured = "configured"
	ActionUnchanged  = "unchanged"
)

// Applied is one object Apply sent.
type Applied struct {
	Kind            string `json:"kind"`
	Namespace       string `json:"namespace"`
	Name            string `json:"name"`
	PodVM           string `json:"podVM"`
	Action          string `json:"action"` // created, configured or unchanged
	ResourceVersion string `json:"resourceVersion"`
}

// Apply sends every object of m with server-side apply (field manager
// podvm-migrate, conflicts forced): each pod VM's DataVolumes, then its
// VirtualMachine. Rerunning it with the same manifest changes nothing.
// It first checks that KubeVirt (and CDI, when DataVolumes are needed) is
// installed. report, when set, is called after each object.
func (c *Client) Apply(ctx context.Context, m *Manifest, report func(Applied)) ([]Applied, error) {
	needCDI := false
	for _, p := range m.PodVMs {
		needCDI = needCDI || len(p.DataVolumes) > 0
	}
	if err := c.CheckInstalled(ctx, needCDI); err != nil {
		return nil, err
	}
	var done []Applied
	add := func(a Applied) {
		done = append(done, a)
		if report != nil {
			report(a)
		}
	}
	for _, p := range m.PodVMs {
		for _, dv := range p.DataVolumes {
			api := c.CDI.CdiV1beta1().DataVolumes(dv.Namespace)
			a, err := applyOne(ctx, "datavolume", dv.Namespace, dv.Name, dv,
				func(ctx context.Context) (string, error) {
					cur, err := api.Get(ctx, dv.Name, metav1.GetOptions{})
					if err != nil {
						return "", err
					}
					return cur.ResourceVersion, nil
				},
				func(ctx context.Context, data []byte, opts metav1.PatchOptions) (string, error) {
					out, err := api.Patch(ctx, dv.Name, types.ApplyPatchType, data, opts)
					if err != nil {
						return "", err
					}
					return out.ResourceVersion, nil
				})
			if err != nil {
				return done, err
			}
			a.Kind, a.PodVM = "DataVolume", p.VM.Name
			add(a)
		}
		vm := p.VM
		api := c.KubeVirt.KubevirtV1().VirtualMachines(vm.Namespace)
		a, err := applyOne(ctx, "virtualmachine", vm.Namespace, vm.Name, vm,
			func(ctx context.Context) (string, error) {
				cur, err := api.Get(ctx, vm.Name, metav1.GetOptions{})
				if err != nil {
					return "", err
				}
				return cur.ResourceVersion, nil
			},
			func(ctx context.Context, data []byte, opts metav1.PatchOptions) (string, error) {
				out, err := api.Patch(ctx, vm.Name, types.ApplyPatchType, data, opts)
				if err != nil {
					return "", err
				}
				return out.ResourceVersion, nil
			})
		if err != nil {
			return done, err
		}
		a.Kind, a.PodVM = "VirtualMachine", vm.Name
		add(a)
	}
	return done, nil
}

// applyOne server-side applies obj and says whether that created it,
// changed it or left it as it was (same resourceVersion).
func applyOne(ctx context.Context, kind, ns, name string, obj any,
	get func(context.Context) (string, error),
	patch func(context.Context, []byte, metav1.PatchOptions) (string, error),
) (Applied, error) {
	a := Applied{Namespace: ns, Name: name}
	what := fmt.Sprintf("%s/%s", ns, name)
	before, err := get(ctx)
	switch {
	case apierrors.IsNotFound(err) && isObjectNotFound(err):
		before = ""
	case err != nil:
		return a, explain(err, kind, what)
	}
	data, err := json.Marshal(obj)
	if err != nil {
		return a, fmt.Errorf("%s %s: %w", kind, what, err)
	}
	after, err := patch(ctx, data, metav1.PatchOptions{FieldManager: FieldManager, Force: ptrTo(true)})
	if err != nil {
		return a, explain(err, kind, what)
	}
	a.ResourceVersion = after
	switch {
	case before == "":
		a.Action = ActionCreated
	case before == after:
		a.Action = ActionUnchanged
	default:
		a.Action = ActionConfigured
	}
	return a, nil
}

// isObjectNotFound tells "no such object" from "no such API" (a 404
// without details: the CRD is missing).
func isObjectNotFound(err error) bool {
	se, ok := err.(apierrors.APIStatus)
	return ok && se.Status().Details != nil && se.Status().Details.Name != ""
}
