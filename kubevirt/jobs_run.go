package kubevirt

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
)

// ApplyJobs creates the conversion Jobs with server-side apply; a rerun
// leaves existing Jobs as they are.
func (c *Client) ApplyJobs(ctx context.Context, jobs []ConvertJob, report func(Applied)) ([]Applied, error) {
	var done []Applied
	for _, cj := range jobs {
		j := cj.Job
		api := c.Kube.BatchV1().Jobs(j.Namespace)
		a, err := applyOne(ctx, "job", j.Namespace, j.Name, j,
			func(ctx context.Context) (string, error) {
				cur, err := api.Get(ctx, j.Name, metav1.GetOptions{})
				if err != nil {
					return "", err
				}
				return cur.ResourceVersion, nil
			},
			func(ctx context.Context, data []byte, opts metav1.PatchOptions) (string, error) {
				out, err := api.Patch(ctx, j.Name, types.ApplyPatchType, data, opts)
				if err != nil {
					return "", err
				}
				return out.ResourceVersion, nil
			})
		if err != nil {
			return done, err
		}
		a.Kind, a.PodVM = "Job", cj.PodVM
		done = append(done, a)
		if report != nil {
			report(a)
		}
	}
	return done, nil
}

// Job states while following them.
const (
	JobPending   = "pending"
	JobRunning   = "running"
	JobSucceeded = "succeeded"
	JobFailed    = "failed"
)

// JobProgress is one change in a conversion Job's state.
type JobProgress struct {
	Namespace string        `json:"namespace"`
	Name      string        `json:"name"`
	PodVM     string        `json:"podVM"`
	Disk      string        `json:"disk"`
	State     string        `json:"state"`
	Message   string        `json:"message,omitempty"`
	Elapsed   time.Duration `json:"elapsed"`
}

// String is the progress line of one Job.
func (p JobProgress) String() string {
	s := fmt.Sprintf("job %s/%s (%s %s): %s", p.Namespace, p.Name, p.PodVM, p.Disk, p.State)
	if p.Message != "" {
		s += ": " + p.Message
	}
	return s + fmt.Sprintf(" (%s)", p.Elapsed.Round(100*time.Millisecond))
}

// JobState reads a Job's status: succeeded or failed once its Complete or
// Failed condition is true, running while pods are active.
func JobState(j *batchv1.Job) (state, message string) {
	for _, c := range j.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			return JobSucceeded, ""
		case batchv1.JobFailed:
			return JobFailed, oneLine(strings.TrimSpace(c.Reason + " " + c.Message))
		}
	}
	if j.Status.Active > 0 || (j.Status.Ready != nil && *j.Status.Ready > 0) {
		return JobRunning, fmt.Sprintf("%d active, %d failed attempts", j.Status.Active, j.Status.Failed)
	}
	return JobPending, ""
}

// FollowJobs polls the Jobs until every one succeeded or failed, calling
// report on each change. It fails when a Job failed, naming them.
func (c *Client) FollowJobs(ctx context.Context, jobs []ConvertJob, interval time.Duration, report func(JobProgress)) error {
	if interval <= 0 {
		interval = time.Second
	}
	start := time.Now()
	last := map[string]JobProgress{}
	var failed []string
	pending := map[string]ConvertJob{}
	for _, j := range jobs {
		pending[j.Job.Namespace+"/"+j.Job.Name] = j
	}
	err := wait.PollUntilContextCancel(ctx, interval, true, func(ctx context.Context) (bool, error) {
		for key, cj := range pending {
			j, err := c.Kube.BatchV1().Jobs(cj.Job.Namespace).Get(ctx, cj.Job.Name, metav1.GetOptions{})
			if err != nil {
				return false, explain(err, "job", key)
			}
			state, msg := JobState(j)
			p := JobProgress{Namespace: j.Namespace, Name: j.Name, PodVM: cj.PodVM, Disk: cj.Disk, State: state, Message: msg, Elapsed: time.Since(start)}
			if prev, ok := last[key]; !ok || prev.State != p.State || prev.Message != p.Message {
				last[key] = p
				if report != nil {
					report(p)
				}
			}
			switch state {
			case JobSucceeded:
				delete(pending, key)
			case JobFailed:
				delete(pending, key)
				failed = append(failed, fmt.Sprintf("%s (%s)", key, msg))
			}
		}
		if len(pending) > 0 {
			return false, nil
		}
		if len(failed) > 0 {
			return false, fmt.Errorf("%d of %d conversion Jobs failed: %s", len(failed), len(jobs), strings.Join(failed, "; "))
		}
		return true, nil
	})
	if err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return fmt.Errorf("%d conversion Jobs still running: %w", len(pending), ctx.Err())
	}
	return err
}
