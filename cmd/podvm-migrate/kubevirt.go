package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/podvm-migrate/podvm-migrate/internal/output"
	"github.com/podvm-migrate/podvm-migrate/kubevirt"
	"github.com/podvm-migrate/podvm-migrate/plan"
)

func init() { register(newKubeVirtCommand) }

func newKubeVirtCommand(g *globalOptions) *cobra.Command {
	c := &cobra.Command{
		Use:   "kubevirt",
		Short: "Run the planned pod VMs on KubeVirt: manifests, apply, conversion Jobs",
		Long: `Turn a plan into KubeVirt objects: a VirtualMachine per VM (CPU topology,
memory, BIOS or EFI with secure boot and SMM, vTPM, the SMBIOS UUID, disks on
the compatibility mode's bus, NICs with the source MACs on the pod network or
the network map's Multus network, labels and annotations naming the source
VM's vCenter, moref and instance UUID), and a DataVolume (a PVC of the storage
map's class) for each disk of at least --datavolume-min-size. Smaller disks
are containerDisks from the pod VM image REGISTRY/NAME:TAG.

DataVolumes are created blank: 'kubevirt convert-jobs' fills them by running
'podvm-migrate convert disk' as Kubernetes Jobs inside the cluster.

The cluster comes from --kubeconfig ($KUBECONFIG, else ~/.kube/config).`,
	}
	c.AddCommand(newKubeVirtManifestsCommand(g), newKubeVirtApplyCommand(g), newKubeVirtConvertJobsCommand(g))
	return c
}

// kubeVirtFlags are the flags every kubevirt subcommand shares.
type kubeVirtFlags struct {
	opts           kubevirt.Options
	vms            []string
	includeBlocked bool
	dvMinSize      string
	images         []string
}

func (f *kubeVirtFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVarP(&f.opts.Namespace, "namespace", "n", "default", "namespace of the objects")
	fl.StringVar(&f.opts.RunStrategy, "run-strategy", "Always", "VirtualMachine run strategy: Always, Halted, Manual, RerunOnFailure or Once")
	fl.StringVar(&f.opts.Registry, "registry", "", "repository prefix of the pod VM images, e.g. registry.example.com/podvms")
	fl.StringVar(&f.opts.Tag, "tag", "latest", "tag of the pod VM images")
	fl.StringArrayVar(&f.images, "podvm-image", nil, "pod VM image of one VM: NAME=REF (repeatable; overrides --registry)")
	fl.StringVar(&f.dvMinSize, "datavolume-min-size", "20Gi", `disks this large or larger get a DataVolume instead of a containerDisk ("never" for none)`)
	fl.StringVar(&f.opts.DefaultStorageClass, "storage-class", "", "storage class of DataVolumes whose disk the storage map left unmapped (default: the cluster's)")
	fl.StringArrayVar(&f.vms, "vm", nil, "only this VM (name or glob; repeatable)")
	fl.BoolVar(&f.includeBlocked, "include-blocked", false, "also VMs the plan blocks")
}

// load reads the plan and builds the manifest; notes and skipped VMs go to
// stderr.
func (f *kubeVirtFlags) load(cmd *cobra.Command, planFile string) (*kubevirt.Manifest, *plan.Plan, error) {
	switch f.dvMinSize {
	case "never", "0":
		f.opts.DataVolumeBytes = -1
	default:
		q, err := resource.ParseQuantity(f.dvMinSize)
		if err != nil || q.Value() <= 0 {
			return nil, nil, usageError{fmt.Errorf("--datavolume-min-size %q: want a size like 20Gi, or never", f.dvMinSize)}
		}
		f.opts.DataVolumeBytes = q.Value()
	}
	f.opts.Images = map[string]string{}
	for _, im := range f.images {
		name, ref, ok := strings.Cut(im, "=")
		if !ok || name == "" || ref == "" {
			return nil, nil, usageError{fmt.Errorf("--podvm-image %q: want NAME=REF", im)}
		}
		f.opts.Images[name] = ref
	}
	if err := f.opts.Validate(); err != nil {
		return nil, nil, usageError{err}
	}
	data, err := os.ReadFile(planFile)
	if err != nil {
		return nil, nil, fmt.Errorf("read plan: %w", err)
	}
	pl, err := plan.UnmarshalPlan(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w (make one with 'podvm-migrate plan')", planFile, err)
	}
	specs, skipped, err := kubevirt.SelectSpecs(pl, kubevirt.PlanSelection{VMs: f.vms, IncludeBlocked: f.includeBlocked})
	if err != nil {
		return nil, nil, usageError{err}
	}
	for _, s := range skipped {
		fmt.Fprintf(cmd.ErrOrStderr(), "skipped %s: %s\n", s.Name, s.Reason)
	}
	if len(specs) == 0 {
		return nil, nil, fmt.Errorf("%s: no VM to run on KubeVirt", planFile)
	}
	m, err := kubevirt.BuildAll(specs, f.opts)
	if err != nil {
		return nil, nil, err
	}
	for _, n := range m.Notes() {
		fmt.Fprintf(cmd.ErrOrStderr(), "note: %s\n", n)
	}
	for _, s := range m.Failed {
		fmt.Fprintf(cmd.ErrOrStderr(), "skipped %s: %s\n", s.Name, s.Reason)
	}
	if len(m.PodVMs) == 0 {
		return nil, nil, fmt.Errorf("%s: no VM can run on KubeVirt", planFile)
	}
	return m, pl, nil
}

// unmapped makes a command that did its work exit with exitBlocked when
// some VMs of the plan could not be mapped to KubeVirt.
func unmapped(m *kubevirt.Manifest) error {
	if len(m.Failed) == 0 {
		return nil
	}
	var names []string
	for _, s := range m.Failed {
		names = append(names, s.Name)
	}
	return blockedError{fmt.Errorf("%d VMs could not be mapped to KubeVirt: %s (see the lines above)", len(m.Failed), strings.Join(names, ", "))}
}

func newKubeVirtManifestsCommand(g *globalOptions) *cobra.Command {
	f := &kubeVirtFlags{}
	var out string
	cmd := &cobra.Command{
		Use:   "manifests PLAN",
		Short: "Print the KubeVirt objects of a plan as YAML (for kubectl apply -f or GitOps)",
		Long: `Print the KubeVirt objects of a plan, each VM's DataVolumes before its
VirtualMachine: a multi-document YAML stream, or with -o json one v1 List
holding them all (kubectl apply -f takes either).`,
		Example: `  podvm-migrate kubevirt manifests plan.yaml --registry registry.example.com/podvms > vms.yaml
  podvm-migrate kubevirt manifests plan.yaml --registry registry.example.com/podvms --vm 'web*' -n apps -o json
  podvm-migrate kubevirt manifests plan.yaml --podvm-image db01=registry.example.com/podvms/db01:v2 --datavolume-min-size never`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, _, err := f.load(cmd, args[0])
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if out != "" {
				file, err := os.Create(out)
				if err != nil {
					return fmt.Errorf("manifests: %w", err)
				}
				defer file.Close()
				w = file
			}
			if g.format == output.JSON {
				if err := output.Print(w, output.JSON, manifestList(m)); err != nil {
					return err
				}
			} else if err := m.WriteYAML(w); err != nil {
				return err
			}
			return unmapped(m)
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&out, "out", "", "write the YAML (or JSON) to this file instead of stdout")
	return cmd
}

// manifestList is every object of m, in WriteYAML's order, as a
// Kubernetes v1 List.
func manifestList(m *kubevirt.Manifest) map[string]any {
	items := []any{}
	for _, p := range m.PodVMs {
		for _, dv := range p.DataVolumes {
			items = append(items, dv)
		}
		items = append(items, p.VM)
	}
	return map[string]any{"apiVersion": "v1", "kind": "List", "items": items}
}

func newKubeVirtApplyCommand(g *globalOptions) *cobra.Command {
	f := &kubeVirtFlags{}
	var (
		wait    bool
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "apply PLAN [--namespace NS] [--wait]",
		Short: "Create or update the KubeVirt objects of a plan (server-side apply) and wait for the VMs",
		Long: `Create or update every DataVolume and VirtualMachine of the plan with
server-side apply (field manager podvm-migrate): rerunning it changes nothing.
With --wait, wait until KubeVirt reports each VirtualMachine ready, printing a
line on stderr whenever a VM's status changes.

Errors from the API server come back as one line each: KubeVirt (or CDI) not
installed, forbidden, invalid, unauthorized, unreachable.`,
		Example: `  podvm-migrate kubevirt apply plan.yaml --registry registry.example.com/podvms -n apps --wait
  podvm-migrate kubevirt apply plan.yaml --registry registry.example.com/podvms --run-strategy Halted --kubeconfig admin.conf`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if wait && f.opts.RunStrategy == "Halted" {
				return usageError{fmt.Errorf("--wait with --run-strategy Halted would never end: the VMs are not started")}
			}
			m, _, err := f.load(cmd, args[0])
			if err != nil {
				return err
			}
			c, err := kubevirt.NewClient(g.kubeconfig)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			applied, err := c.Apply(ctx, m, func(a kubevirt.Applied) {
				fmt.Fprintf(cmd.ErrOrStderr(), "%s %s/%s %s\n", strings.ToLower(a.Kind), a.Namespace, a.Name, a.Action)
			})
			if err != nil {
				return err
			}
			if wait {
				wctx, cancel := context.WithTimeout(ctx, timeout)
				defer cancel()
				if err := c.WaitReady(wctx, m, time.Second, func(p kubevirt.Progress) {
					fmt.Fprintln(cmd.ErrOrStderr(), p.String())
				}); err != nil {
					return err
				}
			}
			fmtOut := g.format
			if err := output.Print(cmd.OutOrStdout(), fmtOut, appliedTable(applied)); err != nil {
				return err
			}
			return unmapped(m)
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&wait, "wait", false, "wait until every VirtualMachine is ready")
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Minute, "how long --wait waits")
	return cmd
}

type appliedTable []kubevirt.Applied

func (a appliedTable) Header() []string {
	return []string{"kind", "namespace", "name", "pod vm", "action"}
}
func (a appliedTable) Rows() [][]string {
	var rows [][]string
	for _, x := range a {
		rows = append(rows, []string{x.Kind, x.Namespace, x.Name, x.PodVM, x.Action})
	}
	return rows
}
