package kubevirt

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podvm-migrate/podvm-migrate/testenv/kube"
)

func TestConvertJobsMapping(t *testing.T) {
	specs := testSpecs()
	m, err := BuildAll(specs, testOptions("migrated"))
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := ConvertJobs(specs, m, JobOptions{
		Namespace: "migrated", Image: "registry.example.com/podvm-migrate:v1",
		SourcePVC: "datastores", DatastorePVCs: map[string]string{"datastore2": "ds2"}, OutputPVC: "podvm-images",
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		job, args, volumes, target string
	}{
		{"convert-web01-disk0", "convert disk --format qcow2 --force --no-progress -o json /source/datastore1/web01/web01.vmdk /target/web01/disk0.qcow2",
			"datastores podvm-images", "pvc podvm-images:web01/disk0.qcow2"},
		{"convert-web01-disk1", "convert disk --format raw --force --no-progress -o json /source/web01/web01_1.vmdk /target/disk.img",
			"ds2 web01-disk1", "datavolume web01-disk1"},
		{"convert-legacy-db-disk0", "convert disk --format raw --force --no-progress -o json /source/datastore1/legacy-db/legacy-db.vmdk /target/disk.img",
			"datastores legacy-db-disk0", "datavolume legacy-db-disk0"},
	}
	if len(jobs) != len(tests) {
		t.Fatalf("%d jobs, want %d", len(jobs), len(tests))
	}
	for i, tt := range tests {
		j := jobs[i]
		spec := j.Job.Spec.Template.Spec
		vols := spec.Volumes[0].PersistentVolumeClaim.ClaimName + " " + spec.Volumes[1].PersistentVolumeClaim.ClaimName
		got := []string{j.Job.Name, strings.Join(spec.Containers[0].Args, " "), vols, j.Target}
		want := []string{tt.job, tt.args, tt.volumes, tt.target}
		for k := range got {
			if got[k] != want[k] {
				t.Errorf("job %d: got %q, want %q", i, got[k], want[k])
			}
		}
		if !spec.Volumes[0].PersistentVolumeClaim.ReadOnly || spec.Containers[0].Image != "registry.example.com/podvm-migrate:v1" {
			t.Errorf("%s: source not read-only or wrong image", j.Job.Name)
		}
	}
	if _, err := ConvertJobs(specs, m, JobOptions{Image: "x", OutputPVC: "out"}); err == nil || !strings.Contains(err.Error(), "no PVC holds datastore") {
		t.Errorf("no source PVC: %v", err)
	}
}

func TestConvertJobsSourceMount(t *testing.T) {
	o := JobOptions{SourcePVC: "datastores", DatastorePVCs: map[string]string{"datastore 2": "ds2"}}
	cases := []struct{ source, path, claim, err string }{
		{source: "[datastore1] web01/web01.vmdk", path: "/source/datastore1/web01/web01.vmdk", claim: "datastores"},
		{source: "[datastore1]/web01/web01.vmdk", path: "/source/datastore1/web01/web01.vmdk", claim: "datastores"},
		{source: "[datastore 2] my vm/my vm.vmdk", path: "/source/my vm/my vm.vmdk", claim: "ds2"},
		{source: "/vms/web01/web01.vmdk", path: "/source/vms/web01/web01.vmdk", claim: "datastores"},
		{source: "web01/web01.vmdk", path: "/source/web01/web01.vmdk", claim: "datastores"},
		{source: "[datastore1 web01.vmdk", err: "no \"]\""},
		{source: "vm:web01/disk0", err: "is a VM disk"},
		{source: "https://vc/folder/web01.vmdk", err: "is a URL"},
	}
	for _, c := range cases {
		p, vol, err := o.sourceMount(c.source)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want one mentioning %q", c.source, err, c.err)
			}
			continue
		}
		if err != nil || p != c.path || vol.claim != c.claim {
			t.Errorf("%s: %q on %q, %v; want %q on %q", c.source, p, vol.claim, err, c.path, c.claim)
		}
	}
}

// TestConvertJobsOnAPIServer creates the Jobs on a real API server, plays
// the Job controller and follows them to the end, one failing.
func TestConvertJobsOnAPIServer(t *testing.T) {
	k := kube.StartForTest(t, kube.Options{NoCRDs: true})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := NewClient(k.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	specs := testSpecs()
	m, err := BuildAll(specs, testOptions("default"))
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := ConvertJobs(specs, m, JobOptions{Image: "registry.example.com/podvm-migrate:v1", SourcePVC: "datastores", OutputPVC: "out"})
	if err != nil {
		t.Fatal(err)
	}
	first, err := c.ApplyJobs(ctx, jobs, nil)
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.ApplyJobs(ctx, jobs, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range again {
		if first[i].Action != ActionCreated || again[i].Action != ActionUnchanged {
			t.Errorf("%s: %s then %s", again[i].Name, first[i].Action, again[i].Action)
		}
	}

	seen := newProgressLog()
	played := make(chan error, 1)
	go func() { played <- playJobController(ctx, c, map[string]bool{"convert-legacy-db-disk0": true}, seen) }()
	err = c.FollowJobs(ctx, jobs, 100*time.Millisecond, func(p JobProgress) { seen.add(p.String()) })
	if err == nil || !strings.Contains(err.Error(), "1 of 3 conversion Jobs failed: default/convert-legacy-db-disk0 (BackoffLimitExceeded") {
		t.Errorf("follow: %v", err)
	}
	cancel() // a controller still waiting for a line the follow never reported gives up
	if err := <-played; err != nil {
		t.Errorf("job controller: %v", err)
	}
	text := seen.text()
	for _, want := range []string{"convert-web01-disk0 (web01 disk0): running", "convert-web01-disk1 (web01 disk1): succeeded", "convert-legacy-db-disk0 (legacy-db disk0): failed: BackoffLimitExceeded"} {
		if !strings.Contains(text, want) {
			t.Errorf("progress lacks %q:\n%s", want, text)
		}
	}
}

// playJobController writes what the Job controller would: a running pod,
// then success (or failure for the Jobs in fail). It moves the Jobs on
// only once the follow has reported each one in the state before (seen),
// so every state is reported however slowly a loaded machine polls.
func playJobController(ctx context.Context, c *Client, fail map[string]bool, seen *progressLog) error {
	api := c.Kube.BatchV1().Jobs("default")
	list, err := api.List(ctx, metav1.ListOptions{LabelSelector: LabelJob + "=" + JobConvert})
	if err != nil {
		return err
	}
	reported := func(state string) error {
		for _, j := range list.Items {
			if err := seen.waitFor(ctx, "job default/"+j.Name+" (", "): "+state); err != nil {
				return err
			}
		}
		return nil
	}
	update := func(name string, edit func(*batchv1.JobStatus)) error {
		j, err := api.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		edit(&j.Status)
		if _, err := api.UpdateStatus(ctx, j, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		return nil
	}
	if err := reported(JobPending); err != nil {
		return err
	}
	start := metav1.Now()
	for _, j := range list.Items {
		if err := update(j.Name, func(s *batchv1.JobStatus) { s.StartTime, s.Active, s.Ready = &start, 1, ptrTo(int32(0)) }); err != nil {
			return err
		}
	}
	if err := reported(JobRunning); err != nil {
		return err
	}
	for _, j := range list.Items {
		err := update(j.Name, func(s *batchv1.JobStatus) {
			now := metav1.Now()
			s.Active, s.Ready = 0, ptrTo(int32(0))
			if fail[j.Name] {
				s.Failed = 3
				s.Conditions = []batchv1.JobCondition{
					{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit", LastTransitionTime: now, LastProbeTime: now},
					{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit", LastTransitionTime: now, LastProbeTime: now},
				}
				return
			}
			s.Succeeded, s.CompletionTime = 1, &now
			s.Conditions = []batchv1.JobCondition{
				{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: now, LastProbeTime: now},
				{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: now, LastProbeTime: now},
			}
		})
		if err != nil {
			return err
		}
	}
	return nil
}
