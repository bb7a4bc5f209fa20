package kubevirt

import (
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/podvm-migrate/podvm-migrate/podvm"
)

// Labels and annotations that trace an object back to its source VM.
const (
	LabelManagedBy   = "app.kubernetes.io/managed-by"
	ManagedBy        = "podvm-migrate"
	LabelPodVM       = "podvm-migrate.io/podvm"                // the pod VM's name
	LabelMoref       = "podvm-migrate.io/source-moref"         // e.g. vm-42
	LabelInstanceID  = "podvm-migrate.io/source-instance-uuid" // vSphere instance UUID
	LabelVCenter     = "podvm-migrate.io/source-vcenter"       // when it is a valid label value
	LabelDisk        = "podvm-migrate.io/disk"                 // on DataVolumes and Jobs
	AnnoVCenter      = "podvm-migrate.io/source-vcenter"
	AnnoMoref        = "podvm-migrate.io/source-moref"
	AnnoInstanceUUID = "podvm-migrate.io/source-instance-uuid"
	AnnoBIOSUUID     = "podvm-migrate.io/source-bios-uuid"
	AnnoSourceName   = "podvm-migrate.io/source-name" // the VM's name in vSphere (any characters)
	AnnoSourceFile   = "podvm-migrate.io/source-file" // .vmx/.ovf/.ova of an offline source
	AnnoGuestOS      = "podvm-migrate.io/guest-os"    // vSphere guestId
	AnnoDiskSource   = "podvm-migrate.io/disk-source" // on DataVolumes: the VMware disk it is filled from
)

// sourceLabels are the labels of every object made for a spec. Values
// that are not valid label values (a long vCenter name) stay in the
// annotations only.
func sourceLabels(s *podvm.Spec) map[string]string {
	l := map[string]string{LabelManagedBy: ManagedBy, LabelPodVM: s.Name}
	for k, v := range map[string]string{
		LabelMoref: s.Source.Moref, LabelInstanceID: s.Source.InstanceUUID, LabelVCenter: s.Source.VCenter,
	} {
		if v != "" && len(validation.IsValidLabelValue(v)) == 0 {
			l[k] = v
		}
	}
	return l
}

// sourceAnnotations hold the full source coordinates.
func sourceAnnotations(s *podvm.Spec) map[string]string {
	a := map[string]string{}
	for k, v := range map[string]string{
		AnnoVCenter: s.Source.VCenter, AnnoMoref: s.Source.Moref, AnnoInstanceUUID: s.Source.InstanceUUID,
		AnnoBIOSUUID: s.Source.BIOSUUID, AnnoSourceName: s.Source.Name, AnnoSourceFile: s.Source.File,
		AnnoGuestOS: s.Guest.OSID,
	} {
		if v != "" {
			a[k] = v
		}
	}
	return a
}

func merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}
