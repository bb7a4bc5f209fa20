package migrate

import (
	"context"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podvm-migrate/podvm-migrate/kubevirt"
	"github.com/podvm-migrate/podvm-migrate/podvm"
)

// KubeVirtStages migrate to KubeVirt: disks are converted like for the
// runtime, the image is pushed to a registry the cluster pulls from, and the
// VirtualMachine is applied and followed until KubeVirt reports it ready.
type KubeVirtStages struct {
	RuntimeStages                       // transfer and checksum as for the runtime
	Client        *kubevirt.Client      // the cluster
	Options       kubevirt.Options      // namespace, run strategy, …
	Registry      string                // HOST[:PORT]/PREFIX the images are pushed to, e.g. registry.example.com/podvms
	RegistryOpts  podvm.RegistryOptions // TLS and credentials for the push
	ReadyTimeout  time.Duration         // default 10 minutes
}

var _ Stages = (*KubeVirtStages)(nil)

// ImageRef is docker://REGISTRY/NAME:latest, where the image is pushed.
func (s *KubeVirtStages) ImageRef(_, name string) string {
	return "docker://" + strings.TrimSuffix(s.Registry, "/") + "/" + name + ":latest"
}

// Package builds the image and pushes it to the registry.
func (s *KubeVirtStages) Package(ctx context.Context, vm *podvm.PlannedVM, disks []string, ref string) (*PackageResult, error) {
	if err := s.makeWorkDir(); err != nil {
		return nil, err
	}
	spec := vm.Spec
	info, err := podvm.BuildImage(ctx, podvm.BuildOptions{Disks: disks, Spec: &spec, To: ref, Registry: s.RegistryOpts, WorkDir: s.WorkDir})
	if err != nil {
		return nil, err
	}
	// The VM pulls the image by digest, so a rebuilt image is never
	// mistaken for the one a running VM already has.
	byDigest := strings.TrimSuffix(ref, ":latest") + "@" + info.ManifestDigest
	return &PackageResult{Ref: byDigest, Digest: info.ManifestDigest, Bytes: info.LayerSize}, nil
}

// ImageOK checks the registry still holds the image that was pushed.
func (s *KubeVirtStages) ImageOK(ctx context.Context, ref, digest string) bool {
	info, err := podvm.InspectImage(ctx, ref, s.RegistryOpts)
	return err == nil && digest != "" && info.ManifestDigest == digest
}

// Boot applies the VirtualMachine (with the pushed image as its
// containerDisk) and waits until KubeVirt reports it ready.
func (s *KubeVirtStages) Boot(ctx context.Context, vm *podvm.PlannedVM, ref string) (*BootResult, error) {
	o := s.Options
	o.Images = map[string]string{vm.Spec.Name: strings.TrimPrefix(ref, "docker://")}
	m, err := kubevirt.BuildAll([]podvm.Spec{vm.Spec}, o)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if _, err := s.Client.Apply(ctx, m, nil); err != nil {
		return nil, err
	}
	applied := time.Since(start)
	timeout := s.ReadyTimeout
	if timeout == 0 {
		timeout = 10 * time.Minute
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := s.Client.WaitReady(wctx, m, time.Second, nil); err != nil {
		return nil, fmt.Errorf("VirtualMachine %s/%s: %w", o.TargetNamespace(), vm.Spec.Name, err)
	}
	return &BootResult{Accel: "kubevirt", Started: applied, ReadyAfter: time.Since(start) - applied}, nil
}

// Running reports whether the VirtualMachine exists and is ready.
func (s *KubeVirtStages) Running(ctx context.Context, vm *podvm.PlannedVM) bool {
	got, err := s.Client.KubeVirt.KubevirtV1().VirtualMachines(s.Options.TargetNamespace()).Get(ctx, vm.Spec.Name, metav1.GetOptions{})
	return err == nil && kubevirt.IsReady(got)
}
