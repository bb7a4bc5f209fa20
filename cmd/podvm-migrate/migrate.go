package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/podvm-migrate/podvm-migrate/checks/probe"
	"github.com/podvm-migrate/podvm-migrate/image"
	"github.com/podvm-migrate/podvm-migrate/internal/output"
	"github.com/podvm-migrate/podvm-migrate/migrate"
	"github.com/podvm-migrate/podvm-migrate/plan"
	"github.com/podvm-migrate/podvm-migrate/reports"
	"github.com/podvm-migrate/podvm-migrate/runtime"
)

func init() { register(newMigrateCommand) }

type migrateFlags struct {
	target, runDir, accel, connect, stateDir string
	registry, namespace, runStrategy         string
	probeKernel, probeInitrd, transfer       string
	compress                                 string
	registryTLSVerify, sourcePowerOff        bool
	fullRead, replace                        bool
	vms                                      []string
	parallel, perDatastore, perHost, retries int
	readyTimeout, checkTimeout               time.Duration
	guest                                    guestConversionFlags
	allow                                    allowPaths
	warm                                     warmFlags
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
A VM's failure does not stop the others. Ctrl-C stops the run: VMs not yet
ready are reported interrupted (a pod VM that was booting is left running,
and the table says so) and migrate exits 130; rerun to resume.

A pod VM of the same name that another run directory (or 'podvm-migrate run')
started is never replaced silently: that VM fails, naming the pod VM and the
run it came from, before its disks are copied; --replace replaces it.
A vSphere source VM that is powered on is copied cold with a warning (the
copy is crash-inconsistent) unless --source-power-off or --warm.

Progress: bars on a terminal, log lines otherwise, JSON events with -o json.
When the run ends, 'podvm-migrate report RUN_DIR' renders its report (an
HTML report is written to RUN_DIR/report.html already).

Local disk sources (of offline VMX, OVF or OVA inventories) are read as
convert disk reads them:

` + allowPathLong,
		Example: `  podvm-migrate migrate plan.yaml --run-dir ./run --parallel 4`,
		Args:    usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runMigrate(cmd, g, f, args[0])
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.target, "target", "runtime", "where pod VMs run: runtime (the included libvirt runtime), kubevirt (--kubeconfig), or pods (--kubeconfig: a Pod per VM on nodes that run 'podvm-migrate node')")
	fl.StringVar(&f.registry, "registry", "", "kubevirt, pods: HOST[:PORT]/PREFIX the pod VM images are pushed to and pulled from")
	fl.BoolVar(&f.registryTLSVerify, "registry-tls-verify", true, "kubevirt, pods: verify the registry's TLS certificate (false also allows plain HTTP)")
	fl.StringVar(&f.namespace, "namespace", "default", "kubevirt, pods: namespace of the VirtualMachines or Pods")
	fl.StringVar(&f.runStrategy, "run-strategy", "Always", "kubevirt: run strategy of the VirtualMachines")
	fl.StringVar(&f.runDir, "run-dir", "", "run directory: journal, disks, images, report (default ./run-<plan name>)")
	fl.IntVar(&f.parallel, "parallel", 2, "VMs migrated at once")
	fl.IntVar(&f.perDatastore, "per-datastore", 2, "disk transfers at once from one datastore")
	fl.IntVar(&f.perHost, "per-host", 2, "disk transfers at once from one ESXi host")
	fl.IntVar(&f.retries, "retries", 3, "retries of a step after a transient fault (with backoff)")
	fl.StringArrayVar(&f.vms, "vm", nil, "migrate only this VM (repeatable)")
	fl.StringVar(&f.accel, "accel", "auto", "accelerator for the runtime: auto, kvm or tcg")
	fl.StringVar(&f.connect, "connect", runtime.DefaultURI, "libvirt URI of the runtime")
	fl.StringVar(&f.stateDir, "state-dir", defaultStateDir(), "the runtime's image store and pod VM folders ($PODVM_STATE_DIR)")
	fl.StringVar(&f.probeKernel, "probe-kernel", "", "runtime: kernel for the KVM smoke boot (migrated disks carry none to try)")
	fl.StringVar(&f.probeInitrd, "probe-initrd", "", "runtime: initramfs for the KVM smoke boot")
	fl.StringVar(&f.transfer, "transfer", "datastore", "how vSphere disks are read: datastore (HTTP range reads of the datastore files) or export (an ExportVm NFC lease, streamOptimized; the VM must be off: see --source-power-off)")
	fl.BoolVar(&f.fullRead, "full-read", false, "datastore transfers read every block of a disk, even where changed block tracking says a powered-off VM's disk holds nothing (by default such areas are skipped; the run record says which disks were)")
	fl.BoolVar(&f.replace, "replace", false, "runtime: replace a pod VM of the same name that another run (or 'podvm-migrate run') started; without it such a VM is kept and its namesake fails")
	fl.BoolVar(&f.sourcePowerOff, "source-power-off", false, "shut each vSphere source VM down (guest shutdown, then power off) before reading its disks")
	fl.DurationVar(&f.readyTimeout, "ready-timeout", 3*time.Minute, "how long a pod VM may take to print its readiness line")
	fl.DurationVar(&f.checkTimeout, "check-timeout", time.Minute, "how long each post-migration check of the plan may keep failing, retried, before it fails its VM")
	fl.StringVar(&f.compress, "compress", "", "image layer compression: none, gzip or zstd (default none for the runtime, booted in place; gzip for kubevirt's registry)")
	f.guest.addMigrate(fl)
	f.allow.register(fl)
	f.warm.register(fl)
	return cmd
}

func runMigrate(cmd *cobra.Command, g *globalOptions, f *migrateFlags, planFile string) error {
	if err := f.guest.validate(); err != nil {
		return err
	}
	paths, err := f.allow.policy()
	if err != nil {
		return err
	}
	warm, err := f.warm.options()
	if err != nil {
		return err
	}
	compress, err := image.ParseCompression(f.compress)
	if err != nil {
		return usageError{fmt.Errorf("--compress: %w", err)}
	}
	data, err := os.ReadFile(planFile)
	if err != nil {
		return fmt.Errorf("read plan: %w", err)
	}
	p, err := plan.UnmarshalPlan(data)
	if err != nil {
		return fmt.Errorf("%s: %w", planFile, err)
	}
	if f.runDir == "" {
		f.runDir = "run-" + strings.TrimSuffix(filepath.Base(planFile), filepath.Ext(planFile))
	}
	prog := newProgress(cmd.ErrOrStderr(), cmd.OutOrStdout(), g.format)
	ctx := cmd.Context()
	m, err := migrate.New(ctx, migrate.Config{
		Plan: p, PlanData: data, BaseDir: filepath.Dir(planFile), Paths: paths,
		Run: migrate.Options{RunDir: f.runDir, Parallel: f.parallel, PerDatastore: f.perDatastore, PerHost: f.perHost,
			VMs: f.vms, Retries: f.retries, Progress: prog, Checks: probe.Options{Timeout: f.checkTimeout}},
		Target: f.target, Transfer: f.transfer, FullRead: f.fullRead, SourcePowerOff: f.sourcePowerOff, VSphere: g.vsphere, Warm: warm, Replace: f.replace,
		GuestConversion: f.guest.mode, GuestCacheDir: f.guest.cacheDir, ReadyTimeout: f.readyTimeout, Compress: compress,
		Runtime: migrate.RuntimeConfig{URI: f.connect, StateDir: f.stateDir, Accel: f.accel,
			ProbeKernel: f.probeKernel, ProbeInitrd: f.probeInitrd, Log: g.log},
		KubeVirt: migrate.KubeVirtConfig{Kubeconfig: g.kubeconfig, Registry: f.registry, TLSVerify: f.registryTLSVerify,
			Namespace: f.namespace, RunStrategy: f.runStrategy},
	})
	if ue := (*migrate.UsageError)(nil); errors.As(err, &ue) {
		return usageError{ue.Err}
	}
	if err != nil {
		return err
	}
	defer m.Close()
	results, runErr := m.Run(ctx)
	prog.finish()
	report := filepath.Join(f.runDir, "report.html")
	if err := reports.WriteHTMLFile(f.runDir, time.Now()); err != nil {
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: no report.html: %v\n", err)
		report = ""
	}
	if g.format != output.JSON && len(results) > 0 {
		if err := output.Print(cmd.OutOrStdout(), g.format, resultTable(results)); err != nil {
			return err
		}
		if report != "" {
			fmt.Fprintf(cmd.OutOrStdout(), "\nrun directory: %s (report: %s)\n", f.runDir, report)
		} else {
			fmt.Fprintf(cmd.OutOrStdout(), "\nrun directory: %s (no report)\n", f.runDir)
		}
	}
	return runErr
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
