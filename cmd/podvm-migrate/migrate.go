package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/podvm-migrate/podvm-migrate/discover/vsphere"
	"github.com/podvm-migrate/podvm-migrate/internal/atomicfile"
	"github.com/podvm-migrate/podvm-migrate/internal/output"
	"github.com/podvm-migrate/podvm-migrate/kubevirt"
	"github.com/podvm-migrate/podvm-migrate/migrate"
	"github.com/podvm-migrate/podvm-migrate/podvm"
	"github.com/podvm-migrate/podvm-migrate/reports"
	"github.com/podvm-migrate/podvm-migrate/runtime"
)

func init() { register(newMigrateCommand) }

type migrateFlags struct {
	target, runDir, accel, connect, stateDir string
	registry, namespace, runStrategy         string
	probeKernel, probeInitrd, transfer       string
	registryTLSVerify, sourcePowerOff        bool
	vms                                      []string
	parallel, perDatastore, perHost, retries int
	readyTimeout                             time.Duration
	guest                                    guestConversionFlags
}

func newMigrateCommand(g *globalOptions) *cobra.Command {
	f := &migrateFlags{}
	cmd := &cobra.Command{
		Use:   "migrate PLAN",
		Short: "Migrate the ready VMs of a plan: copy and convert disks, build images, start pod VMs",
		Long: `Run the batch pipeline over every VM of PLAN that is not blocked: stream and
convert each disk to qcow2, build the pod VM image, start it on the target and
wait for it to be ready. Every step is timed and journalled in --run-dir.

Resumable: after a crash or Ctrl-C, rerun the same command. Disks, images and
pod VMs already finished are verified (disk checksums, image digest, a running
domain) and skipped; nothing half-written is ever left under a final name.
A VM's failure does not stop the others.

Progress: bars on a terminal, log lines otherwise, JSON events with -o json.
When the run ends, 'podvm-migrate report RUN_DIR' renders its report (an
HTML report is written to RUN_DIR/report.html already).`,
		Example: `  podvm-migrate migrate plan.yaml --run-dir ./run --parallel 4`,
		Args:    usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runMigrate(cmd, g, f, args[0])
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.target, "target", "runtime", "where pod VMs run: runtime (the included libvirt runtime) or kubevirt (--kubeconfig)")
	fl.StringVar(&f.registry, "registry", "", "kubevirt: HOST[:PORT]/PREFIX the pod VM images are pushed to and pulled from")
	fl.BoolVar(&f.registryTLSVerify, "registry-tls-verify", true, "kubevirt: verify the registry's TLS certificate (false also allows plain HTTP)")
	fl.StringVar(&f.namespace, "namespace", "default", "kubevirt: namespace of the VirtualMachines")
	fl.StringVar(&f.runStrategy, "run-strategy", "Always", "kubevirt: run strategy of the VirtualMachines")
	fl.StringVar(&f.runDir, "run-dir", "", "run directory: journal, disks, images, report (default ./run-<plan name>)")
	fl.IntVar(&f.parallel, "parallel", 2, "VMs migrated at once")
	fl.IntVar(&f.perDatastore, "per-datastore", 2, "disk transfers at once from one datastore")
	fl.IntVar(&f.perHost, "per-host", 2, "disk transfers at once from one ESXi host")
	fl.IntVar(&f.retries, "retries", 3, "retries of a step after a transient fault (with backoff)")
	fl.StringArrayVar(&f.vms, "vm", nil, "migrate only this VM (repeatable)")
	fl.StringVar(&f.accel, "accel", "auto", "accelerator for the runtime: auto, kvm or tcg")
	fl.StringVar(&f.connect, "connect", runtime.DefaultURI, "libvirt URI of the runtime")
	fl.StringVar(&f.stateDir, "state-dir", runtime.DefaultStateDir, "the runtime's image store and pod VM folders")
	fl.StringVar(&f.probeKernel, "probe-kernel", "", "runtime: kernel for the KVM smoke boot (migrated disks carry none to try)")
	fl.StringVar(&f.probeInitrd, "probe-initrd", "", "runtime: initramfs for the KVM smoke boot")
	fl.StringVar(&f.transfer, "transfer", "datastore", "how vSphere disks are read: datastore (HTTP range reads of the datastore files) or export (an ExportVm NFC lease, streamOptimized; the VM must be off: see --source-power-off)")
	fl.BoolVar(&f.sourcePowerOff, "source-power-off", false, "shut each vSphere source VM down (guest shutdown, then power off) before reading its disks")
	fl.DurationVar(&f.readyTimeout, "ready-timeout", 3*time.Minute, "how long a pod VM may take to print its readiness line")
	f.guest.addMigrate(fl)
	return cmd
}

func runMigrate(cmd *cobra.Command, g *globalOptions, f *migrateFlags, planFile string) error {
	for _, n := range []struct {
		flag string
		v    int
	}{{"--parallel", f.parallel}, {"--per-datastore", f.perDatastore}, {"--per-host", f.perHost}} {
		if n.v < 1 {
			return usageError{fmt.Errorf("%s %d: want 1 or more", n.flag, n.v)}
		}
	}
	if f.transfer != "datastore" && f.transfer != "export" {
		return usageError{fmt.Errorf("--transfer %q: want datastore or export", f.transfer)}
	}
	if f.retries < 0 {
		return usageError{fmt.Errorf("--retries %d: want 0 or more", f.retries)}
	}
	switch f.target {
	case "runtime":
	case "kubevirt":
		if f.registry == "" {
			return usageError{fmt.Errorf("--target kubevirt needs --registry HOST/PREFIX: the cluster pulls the pod VM images from there")}
		}
	default:
		return usageError{fmt.Errorf("--target %q: want runtime or kubevirt", f.target)}
	}
	if err := f.guest.validate(); err != nil {
		return err
	}
	data, err := os.ReadFile(planFile)
	if err != nil {
		return fmt.Errorf("read plan: %w", err)
	}
	plan, err := podvm.UnmarshalPlan(data)
	if err != nil {
		return fmt.Errorf("%s: %w", planFile, err)
	}
	if f.runDir == "" {
		f.runDir = "run-" + strings.TrimSuffix(filepath.Base(planFile), filepath.Ext(planFile))
	}
	if err := os.MkdirAll(f.runDir, 0o755); err != nil {
		return err
	}
	if f.sourcePowerOff && g.vsphere.URL == "" {
		return usageError{fmt.Errorf("--source-power-off needs the vSphere connection (--url or GOVC_URL)")}
	}
	if planNeedsVSphere(plan) && g.vsphere.URL == "" {
		return usageError{fmt.Errorf("%s has disks on vSphere datastores: give the vSphere connection (--url or GOVC_URL)", planFile)}
	}
	// A run directory belongs to one plan: its journal and report pair with it.
	runPlan := filepath.Join(f.runDir, reports.PlanFile)
	if old, err := os.ReadFile(runPlan); err == nil && !bytes.Equal(old, data) {
		return usageError{fmt.Errorf("run directory %s was made from another plan: use a new --run-dir (or remove the old one)", f.runDir)}
	}
	if err := atomicfile.WriteFile(runPlan, data, 0o644); err != nil {
		return err
	}
	ctx := cmd.Context()
	open := migrate.LocalFiles(filepath.Dir(planFile))
	var quiesce func(context.Context, *podvm.PlannedVM) (string, error)
	if (planNeedsVSphere(plan) || f.sourcePowerOff) && g.vsphere.URL != "" {
		conn, err := vsphere.Connect(ctx, g.vsphere)
		if err != nil {
			return err
		}
		defer conn.Logout(context.WithoutCancel(ctx))
		if f.transfer == "export" {
			open = migrate.VSphereExport(conn, open)
		} else {
			open = migrate.VSphereDatastore(conn, open)
		}
		if f.sourcePowerOff {
			quiesce = migrate.PowerOffSource(conn, 2*time.Minute)
		}
	}
	base := migrate.RuntimeStages{Open: open, Accel: f.accel, Ready: f.readyTimeout, WorkDir: filepath.Join(f.runDir, "tmp"),
		GuestConversion: f.guest.mode, GuestCacheDir: f.guest.cacheDir}
	var stages migrate.Stages
	if f.target == "kubevirt" {
		client, err := kubevirt.NewClient(g.kubeconfig)
		if err != nil {
			return err
		}
		if err := client.CheckInstalled(ctx, false); err != nil {
			return err
		}
		verify := f.registryTLSVerify
		stages = &migrate.KubeVirtStages{RuntimeStages: base, Client: client, Registry: f.registry,
			RegistryOpts: podvm.RegistryOptions{TLSVerify: &verify},
			Options:      kubevirt.Options{Namespace: f.namespace, RunStrategy: f.runStrategy}, ReadyTimeout: f.readyTimeout}
	} else {
		opts := []runtime.Option{runtime.WithURI(f.connect), runtime.WithStateDir(f.stateDir), runtime.WithLogger(g.log)}
		if f.probeKernel != "" {
			opts = append(opts, runtime.WithProbeGuest(f.probeKernel, f.probeInitrd))
		}
		rt, err := runtime.New(ctx, opts...)
		if err != nil {
			return err
		}
		defer rt.Close()
		base.Runtime = rt
		stages = &base
	}
	prog := newProgress(cmd.ErrOrStderr(), cmd.OutOrStdout(), g.format)
	r, err := migrate.NewRunner(plan, stages, migrate.Options{RunDir: f.runDir, Parallel: f.parallel, PerDatastore: f.perDatastore, PerHost: f.perHost,
		VMs: f.vms, Retries: f.retries, Progress: prog, Quiesce: quiesce})
	if err != nil {
		return err
	}
	defer r.Close()
	results, runErr := r.Run(ctx)
	prog.finish()
	if err := writeRunReport(f.runDir); err != nil {
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: no report.html: %v\n", err)
	}
	if g.format != output.JSON {
		format := g.format
		if format == output.Auto {
			format = output.Table
		}
		if err := output.Print(cmd.OutOrStdout(), format, resultTable(results)); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "\nrun directory: %s (report: %s)\n", f.runDir, filepath.Join(f.runDir, "report.html"))
	}
	return runErr
}

// writeRunReport renders RUN_DIR/report.html.
func writeRunReport(runDir string) error {
	rep, err := reports.Load(runDir, time.Now())
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if err := reports.Render(&b, rep, reports.FormatHTML); err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(runDir, "report.html"), b.Bytes(), 0o644)
}

// planNeedsVSphere reports whether a disk of the plan lives on a datastore.
func planNeedsVSphere(p *podvm.Plan) bool {
	for _, vm := range p.VMs {
		for _, d := range vm.Spec.Disks {
			if strings.HasPrefix(d.Source, "[") {
				return true
			}
		}
	}
	return false
}

type resultTable []migrate.VMResult

func (r resultTable) Header() []string {
	return []string{"pod vm", "status", "accel", "image", "error"}
}
func (r resultTable) Rows() [][]string {
	var rows [][]string
	for _, x := range r {
		rows = append(rows, []string{x.VM, x.Status, x.Accel, x.Image, x.Error})
	}
	return rows
}
