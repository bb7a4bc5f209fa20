package kubevirt

import (
	"fmt"
	"path"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podvm-migrate/podvm-migrate/disksource"
	"github.com/podvm-migrate/podvm-migrate/podvm"
)

// JobOptions say how disk conversions run as Kubernetes Jobs.
type JobOptions struct {
	Namespace string // "default" when empty
	// Image is the container image holding podvm-migrate.
	Image string
	// SourcePVC holds the VMware disks (e.g. an NFS export of the
	// datastores): "[ds1] vm/vm.vmdk" is read at /source/ds1/vm/vm.vmdk and
	// an absolute file path at /source/PATH.
	SourcePVC string
	// DatastorePVCs mount one PVC per datastore name at /source/DATASTORE
	// instead of SourcePVC's folder.
	DatastorePVCs map[string]string
	// OutputPVC receives the qcow2 of disks that go into pod VM images
	// (containerDisks) as /output/VM/DISK.qcow2. Disks on DataVolumes are
	// written into their own PVC as disk.img (raw), as KubeVirt expects.
	OutputPVC string
	// BackoffLimit is how often a failed conversion is retried.
	BackoffLimit int32
	// ServiceAccount runs the Jobs' pods; empty: the namespace's default.
	ServiceAccount string
}

// Labels of conversion Jobs.
const (
	LabelJob   = "podvm-migrate.io/job"
	JobConvert = "convert-disk"
)

// ConvertJob is one disk conversion Job and the disk it converts.
type ConvertJob struct {
	Job    *batchv1.Job
	PodVM  string
	Disk   string
	Source string // the VMware disk
	Target string // the DataVolume or output file
}

// ConvertJobs makes one Job per disk of the manifest's pod VMs that runs
// 'podvm-migrate convert disk SRC DST' in the cluster: into the disk's
// DataVolume PVC when it has one, else into OutputPVC.
func ConvertJobs(specs []podvm.Spec, m *Manifest, o JobOptions) ([]ConvertJob, error) {
	if o.Image == "" {
		return nil, fmt.Errorf("convert jobs: no podvm-migrate container image")
	}
	ns := o.Namespace
	if ns == "" {
		ns = "default"
	}
	dvs := map[string]bool{}
	for _, p := range m.PodVMs {
		for _, dv := range p.DataVolumes {
			dvs[dv.Name] = true
		}
	}
	var jobs []ConvertJob
	for i := range specs {
		s := &specs[i]
		for _, d := range s.Disks {
			j, err := convertJob(s, d, dvs[DataVolumeName(s.Name, d.Name)], ns, o)
			if err != nil {
				return nil, err
			}
			jobs = append(jobs, *j)
		}
	}
	return jobs, nil
}

func convertJob(s *podvm.Spec, d podvm.Disk, onDataVolume bool, ns string, o JobOptions) (*ConvertJob, error) {
	if d.Source == "" {
		return nil, fmt.Errorf("convert jobs: %s disk %s: the plan names no source disk", s.Name, d.Name)
	}
	src, srcVol, err := o.sourceMount(d.Source)
	if err != nil {
		return nil, fmt.Errorf("convert jobs: %s disk %s: %w", s.Name, d.Name, err)
	}
	var dst, target, format string
	var dstVol corev1.Volume
	if onDataVolume {
		pvc := DataVolumeName(s.Name, d.Name)
		dst, target, format = "/target/disk.img", "datavolume "+pvc, "raw"
		dstVol = pvcVolume("target", pvc, false)
	} else {
		if o.OutputPVC == "" {
			return nil, fmt.Errorf("convert jobs: %s disk %s goes into the pod VM image: name an output PVC", s.Name, d.Name)
		}
		dst = path.Join("/target", s.Name, d.Name+".qcow2")
		target, format = "pvc "+o.OutputPVC+":"+strings.TrimPrefix(dst, "/target/"), "qcow2"
		dstVol = pvcVolume("target", o.OutputPVC, false)
	}
	labels := merge(sourceLabels(s), map[string]string{LabelDisk: d.Name, LabelJob: JobConvert})
	annotations := merge(sourceAnnotations(s), map[string]string{AnnoDiskSource: d.Source})
	qemu := int64(107) // KubeVirt's qemu user owns disk images
	job := &batchv1.Job{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: metav1.ObjectMeta{Name: jobName(s.Name, d.Name), Namespace: ns, Labels: labels, Annotations: annotations},
		Spec: batchv1.JobSpec{
			BackoffLimit: ptrTo(o.BackoffLimit),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					RestartPolicy:      corev1.RestartPolicyNever,
					ServiceAccountName: o.ServiceAccount,
					SecurityContext:    &corev1.PodSecurityContext{RunAsUser: &qemu, RunAsGroup: &qemu, FSGroup: &qemu},
					Containers: []corev1.Container{{
						Name:  "convert",
						Image: o.Image,
						Args:  []string{"convert", "disk", "--format", format, "--force", "--no-progress", "-o", "json", src, dst},
						VolumeMounts: []corev1.VolumeMount{
							{Name: "source", MountPath: srcVol.mountPath, ReadOnly: true},
							{Name: "target", MountPath: "/target"},
						},
					}},
					Volumes: []corev1.Volume{pvcVolume("source", srcVol.claim, true), dstVol},
				},
			},
		},
	}
	return &ConvertJob{Job: job, PodVM: s.Name, Disk: d.Name, Source: d.Source, Target: target}, nil
}

type sourceVolume struct{ claim, mountPath string }

// sourceMount maps a VMware disk path to a path inside the Job and the
// PVC to mount for it.
func (o JobOptions) sourceMount(source string) (string, sourceVolume, error) {
	src, err := disksource.Parse(source)
	if err != nil {
		return "", sourceVolume{}, err
	}
	switch src.Kind {
	case disksource.KindDatastore:
		if pvc, ok := o.DatastorePVCs[src.Datastore]; ok {
			return path.Join("/source", src.Path), sourceVolume{claim: pvc, mountPath: "/source"}, nil
		}
		if o.SourcePVC == "" {
			return "", sourceVolume{}, fmt.Errorf("no PVC holds datastore %q: name a source PVC or a datastore PVC", src.Datastore)
		}
		return path.Join("/source", src.Datastore, src.Path), sourceVolume{claim: o.SourcePVC, mountPath: "/source"}, nil
	case disksource.KindFile:
		if o.SourcePVC == "" {
			return "", sourceVolume{}, fmt.Errorf("no PVC holds %s: name a source PVC", source)
		}
		return path.Join("/source", src.File), sourceVolume{claim: o.SourcePVC, mountPath: "/source"}, nil
	}
	return "", sourceVolume{}, fmt.Errorf("%s is a %s: convert jobs read disks from PVCs, so give a datastore path or a file", source, src.Kind)
}

func pvcVolume(name, claim string, readOnly bool) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{
		PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim, ReadOnly: readOnly},
	}}
}

// jobName is "convert-VM-DISK", cut to a valid name.
func jobName(vm, disk string) string {
	n := "convert-" + vm + "-" + disk
	if len(n) > 63 {
		n = strings.TrimRight(n[:63], "-")
	}
	return n
}
