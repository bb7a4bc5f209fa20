package migrate

import (
	"context"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podvm-migrate/podvm-migrate/image"
	"github.com/podvm-migrate/podvm-migrate/kubevirt"
	"github.com/podvm-migrate/podvm-migrate/plan"
	"github.com/podvm-migrate/podvm-migrate/podvm"
)

// KubeVirtTarget runs pod VMs on KubeVirt: the image is pushed to a
// registry the cluster pulls from, and the VirtualMachine is applied and
// followed until KubeVirt reports it ready.
type KubeVirtTarget struct {
	Client       *kubevirt.Client      // the cluster
	Options      kubevirt.Options      // namespace, run strategy, …
	Registry     string                // HOST[:PORT]/PREFIX the images are pushed to, e.g. registry.example.com/podvms
	RegistryOpts image.RegistryOptions // TLS and credentials for the push
	ReadyTimeout time.Duration         // default 10 minutes
	WorkDir      string                // scratch for image builds
	Compress     image.Compression     // the layer's compression; "" is gzip, which every containerDisk pull reads
}

var _ Target = (*KubeVirtTarget)(nil)

// ImageRef is docker://REGISTRY/NAME:latest, where the image is pushed.
func (t *KubeVirtTarget) ImageRef(_, name string) string {
	return registryRef(t.Registry, name)
}

// Package builds the image and pushes it to the registry. The VM pulls
// the image by digest, so a rebuilt image is never mistaken for the one a
// running VM already has.
func (t *KubeVirtTarget) Package(ctx context.Context, vm *plan.PlannedVM, disks []string, ref string) (*PackageResult, error) {
	if err := kubevirt.CheckNetworks(&vm.Spec); err != nil {
		return nil, err // before pushing an image KubeVirt cannot run
	}
	return pushImage(ctx, vm, disks, ref, t.WorkDir, t.RegistryOpts, t.Compress)
}

// ImageOK checks the registry still holds the image that was pushed.
func (t *KubeVirtTarget) ImageOK(ctx context.Context, ref, digest string) bool {
	return imageOK(ctx, ref, digest, t.RegistryOpts)
}

// Boot applies the VirtualMachine (with the pushed image as its
// containerDisk) and waits until KubeVirt reports it ready.
func (t *KubeVirtTarget) Boot(ctx context.Context, vm *plan.PlannedVM, ref string) (*BootResult, error) {
	o := t.Options
	o.Images = map[string]string{vm.Spec.Name: strings.TrimPrefix(ref, "docker://")}
	m, err := kubevirt.BuildAll([]podvm.Spec{vm.Spec}, o)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if _, err := t.Client.Apply(ctx, m, nil); err != nil {
		return nil, err
	}
	applied := time.Since(start)
	timeout := t.ReadyTimeout
	if timeout == 0 {
		timeout = 10 * time.Minute
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := t.Client.WaitReady(wctx, m, time.Second, nil); err != nil {
		return nil, fmt.Errorf("VirtualMachine %s/%s: %w", o.TargetNamespace(), vm.Spec.Name, err)
	}
	return &BootResult{Accel: "kubevirt", Started: applied, ReadyAfter: time.Since(start) - applied}, nil
}

// Running reports whether the VirtualMachine exists and is ready.
func (t *KubeVirtTarget) Running(ctx context.Context, vm *plan.PlannedVM) bool {
	got, err := t.Client.KubeVirt.KubevirtV1().VirtualMachines(t.Options.TargetNamespace()).Get(ctx, vm.Spec.Name, metav1.GetOptions{})
	return err == nil && kubevirt.IsReady(got)
}
