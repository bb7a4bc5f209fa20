package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/podvm-migrate/podvm-migrate/internal/output"
	"github.com/podvm-migrate/podvm-migrate/kubevirt"
)

func newKubeVirtConvertJobsCommand(g *globalOptions) *cobra.Command {
	f := &kubeVirtFlags{}
	var (
		jo            kubevirt.JobOptions
		datastorePVCs []string
		follow        bool
		timeout       time.Duration
	)
	cmd := &cobra.Command{
		Use:   "convert-jobs PLAN --image IMG",
		Short: "Convert the plan's disks inside the cluster: one Kubernetes Job per VM disk",
		Long: `Create one batch/v1 Job per disk of every selected VM that runs
'podvm-migrate convert disk SRC DST' from the container image IMG, and follow
their status (a line on stderr per change) until all have finished.

SRC is read from --source-pvc (datastores as folders: "[ds1] vm/vm.vmdk" is
/source/ds1/vm/vm.vmdk) or from a --datastore-pvc DS=PVC of its own. Disks
that get a DataVolume (see 'kubevirt manifests') are written into that
DataVolume's PVC as disk.img (raw), ready for KubeVirt; the others go to
--output-pvc as VM/DISK.qcow2, for the pod VM image. Apply the manifests
first (with --run-strategy Halted) so the DataVolumes exist.

Jobs are created with server-side apply: a rerun leaves them as they are.`,
		Example: `  podvm-migrate kubevirt apply plan.yaml --run-strategy Halted -n migrated
  podvm-migrate kubevirt convert-jobs plan.yaml -n migrated --image registry.example.com/podvm-migrate:v1 \
      --source-pvc datastores --output-pvc podvm-images`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if jo.Image == "" {
				return usageError{fmt.Errorf("--image is required: the container image holding podvm-migrate")}
			}
			jo.DatastorePVCs = map[string]string{}
			for _, d := range datastorePVCs {
				ds, pvc, ok := strings.Cut(d, "=")
				if !ok || ds == "" || pvc == "" {
					return usageError{fmt.Errorf("--datastore-pvc %q: want DATASTORE=PVC", d)}
				}
				jo.DatastorePVCs[ds] = pvc
			}
			m, pl, err := f.load(cmd, args[0])
			if err != nil {
				return err
			}
			specs, _, err := kubevirt.SelectSpecs(pl, kubevirt.PlanSelection{VMs: f.vms, IncludeBlocked: f.includeBlocked})
			if err != nil {
				return usageError{err}
			}
			jo.Namespace = f.opts.Namespace
			jobs, err := kubevirt.ConvertJobs(specs, m, jo)
			if err != nil {
				return usageError{err}
			}
			c, err := kubevirt.NewClient(g.kubeconfig)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if _, err := c.ApplyJobs(ctx, jobs, func(a kubevirt.Applied) {
				fmt.Fprintf(cmd.ErrOrStderr(), "job %s/%s %s\n", a.Namespace, a.Name, a.Action)
			}); err != nil {
				return err
			}
			var last []kubevirt.JobProgress
			followErr := error(nil)
			if follow {
				fctx, cancel := context.WithTimeout(ctx, timeout)
				defer cancel()
				states := map[string]kubevirt.JobProgress{}
				followErr = c.FollowJobs(fctx, jobs, 2*time.Second, func(p kubevirt.JobProgress) {
					states[p.Name] = p
					fmt.Fprintln(cmd.ErrOrStderr(), p.String())
				})
				for _, j := range jobs {
					last = append(last, states[j.Job.Name])
				}
			}
			fmtOut := g.format
			if err := output.Print(cmd.OutOrStdout(), fmtOut, jobTable{jobs: jobs, states: last}); err != nil {
				return err
			}
			if followErr != nil {
				return followErr
			}
			return unmapped(m)
		},
	}
	f.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&jo.Image, "image", "", "container image holding podvm-migrate (required)")
	fl.StringVar(&jo.SourcePVC, "source-pvc", "", "PVC holding the VMware datastores as folders (read-only)")
	fl.StringArrayVar(&datastorePVCs, "datastore-pvc", nil, "PVC holding one datastore: DATASTORE=PVC (repeatable)")
	fl.StringVar(&jo.OutputPVC, "output-pvc", "", "PVC receiving the qcow2 of disks that go into pod VM images")
	fl.StringVar(&jo.ServiceAccount, "service-account", "", "service account of the Jobs' pods")
	fl.Int32Var(&jo.BackoffLimit, "retries", 2, "retries of a failed conversion")
	fl.BoolVar(&follow, "follow", true, "follow the Jobs until all have finished")
	fl.DurationVar(&timeout, "timeout", 6*time.Hour, "how long to follow the Jobs")
	return cmd
}

// jobTable lists the Jobs with their last state when followed.
type jobTable struct {
	jobs   []kubevirt.ConvertJob
	states []kubevirt.JobProgress
}

func (t jobTable) MarshalJSON() ([]byte, error) { return json.Marshal(t.items()) }

type jobItem struct {
	Namespace string `json:"namespace"`
	Job       string `json:"job"`
	PodVM     string `json:"podVM"`
	Disk      string `json:"disk"`
	Source    string `json:"source"`
	Target    string `json:"target"`
	State     string `json:"state,omitempty"`
	Message   string `json:"message,omitempty"`
}

func (t jobTable) items() []jobItem {
	var items []jobItem
	for i, j := range t.jobs {
		it := jobItem{Namespace: j.Job.Namespace, Job: j.Job.Name, PodVM: j.PodVM, Disk: j.Disk, Source: j.Source, Target: j.Target}
		if i < len(t.states) {
			it.State, it.Message = t.states[i].State, t.states[i].Message
		}
		items = append(items, it)
	}
	return items
}

func (t jobTable) Header() []string {
	return []string{"job", "pod vm", "disk", "source", "target", "state"}
}

func (t jobTable) Rows() [][]string {
	var rows [][]string
	for _, it := range t.items() {
		rows = append(rows, []string{it.Job, it.PodVM, it.Disk, it.Source, it.Target, it.State})
	}
	return rows
}
