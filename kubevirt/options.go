// Package kubevirt turns pod VM specs into KubeVirt objects (a
// VirtualMachine per VM, DataVolumes for large disks), applies them
// through kubevirt client-go and waits for them, and runs disk conversions
// as Kubernetes Jobs for scale-out.
package kubevirt

import (
	"fmt"
	"strings"

	kubevirtv1 "kubevirt.io/api/core/v1"
)

// Options say how specs become KubeVirt objects.
type Options struct {
	// Namespace of every object; "default" when empty.
	Namespace string
	// RunStrategy of every VirtualMachine: Always (default), Halted,
	// Manual, RerunOnFailure or Once.
	RunStrategy string
	// Registry is the repository prefix of the pod VM images, e.g.
	// "registry.example.com/podvms": VM web01's image is
	// "registry.example.com/podvms/web01:TAG".
	Registry string
	// Tag of the pod VM images; "latest" when empty.
	Tag string
	// Images overrides Registry per pod VM name with a full reference.
	Images map[string]string
	// DataVolumeBytes: disks of at least this size get a DataVolume (a PVC
	// of the storage map's class) instead of a containerDisk. 0 means
	// DefaultDataVolumeBytes; a negative value never uses DataVolumes.
	DataVolumeBytes int64
	// DefaultStorageClass is used for DataVolumes of disks whose spec names
	// no storage class; empty leaves the cluster default.
	DefaultStorageClass string
}

// DefaultDataVolumeBytes is the disk size from which a disk goes to a
// DataVolume: a containerDisk is ephemeral and pulled to every node, which
// suits small system disks only.
const DefaultDataVolumeBytes = 20 << 30

// RunStrategies are the run strategies --run-strategy accepts.
var RunStrategies = []kubevirtv1.VirtualMachineRunStrategy{
	kubevirtv1.RunStrategyAlways, kubevirtv1.RunStrategyHalted, kubevirtv1.RunStrategyManual,
	kubevirtv1.RunStrategyRerunOnFailure, kubevirtv1.RunStrategyOnce,
}

// Validate checks the options.
func (o Options) Validate() error {
	if o.RunStrategy != "" {
		ok := false
		var names []string
		for _, rs := range RunStrategies {
			names = append(names, string(rs))
			ok = ok || string(rs) == o.RunStrategy
		}
		if !ok {
			return fmt.Errorf("run strategy %q: want one of %s", o.RunStrategy, strings.Join(names, ", "))
		}
	}
	return nil
}

// TargetNamespace is the namespace objects go to: Namespace, or "default".
func (o Options) TargetNamespace() string {
	if o.Namespace == "" {
		return "default"
	}
	return o.Namespace
}

func (o Options) runStrategy() kubevirtv1.VirtualMachineRunStrategy {
	if o.RunStrategy == "" {
		return kubevirtv1.RunStrategyAlways
	}
	return kubevirtv1.VirtualMachineRunStrategy(o.RunStrategy)
}

// image is the pod VM image reference of a pod VM; empty when neither
// Images nor Registry says.
func (o Options) image(name string) string {
	if ref, ok := o.Images[name]; ok {
		return ref
	}
	if o.Registry == "" {
		return ""
	}
	tag := o.Tag
	if tag == "" {
		tag = "latest"
	}
	return strings.TrimSuffix(o.Registry, "/") + "/" + name + ":" + tag
}

func (o Options) useDataVolume(capacity int64) bool {
	switch {
	case o.DataVolumeBytes < 0:
		return false
	case o.DataVolumeBytes == 0:
		return capacity >= DefaultDataVolumeBytes
	}
	return capacity >= o.DataVolumeBytes
}
