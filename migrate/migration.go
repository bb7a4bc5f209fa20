package migrate

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/podvm-migrate/podvm-migrate/convert"
	"github.com/podvm-migrate/podvm-migrate/disksource"
	"github.com/podvm-migrate/podvm-migrate/image"
	"github.com/podvm-migrate/podvm-migrate/internal/atomicfile"
	"github.com/podvm-migrate/podvm-migrate/internal/host"
	"github.com/podvm-migrate/podvm-migrate/kubevirt"
	"github.com/podvm-migrate/podvm-migrate/plan"
	"github.com/podvm-migrate/podvm-migrate/runrecord"
	"github.com/podvm-migrate/podvm-migrate/runtime"
	"github.com/podvm-migrate/podvm-migrate/vsphere"
)

// Targets a migration can run pod VMs on.
const (
	TargetRuntime  = "runtime"
	TargetKubeVirt = "kubevirt"
	TargetPods     = "pods" // pods on nodes that run the node agent
)

// How vSphere disks are read.
const (
	TransferDatastore = "datastore" // HTTP range reads of the datastore files
	TransferExport    = "export"    // an ExportVm NFC lease (the VM must be off)
)

// Config is one migration run as a user asks for it.
type Config struct {
	Plan     *plan.Plan
	PlanData []byte // the plan document as read, kept in the run directory
	// BaseDir resolves relative disk sources (the plan file's folder).
	BaseDir string
	// Paths widens which local files the VMDK descriptors of local disk
	// sources may name besides their own folder (--allow-path).
	Paths convert.PathPolicy
	Run   Options // run directory, bounds, retries, VMs, progress

	Target   string // runtime (default) | kubevirt | pods
	Transfer string // datastore (default) | export
	// FullRead reads every block of datastore disks, even where changed
	// block tracking says a disk holds nothing (DatastoreOptions).
	FullRead bool
	// SourcePowerOff shuts each vSphere source VM down before its disks
	// are read.
	SourcePowerOff bool
	// Warm migrates powered-on VMs with CBT in precopy rounds and a cutover
	// (its Source is the vSphere connection); nil migrates every VM cold.
	Warm *WarmOptions
	// VSphere is the connection for disks on datastores; URL "" means none.
	VSphere vsphere.Config
	// Replace lets this run's pod VMs replace pod VMs of the same name that
	// another run (or 'podvm-migrate run') started; without it those are
	// kept and the VMs fail, naming them.
	Replace bool

	GuestConversion string // auto | always | never
	GuestCacheDir   string
	ReadyTimeout    time.Duration
	// Compress is the image layer's compression; "" is none for the
	// runtime's OCI layouts (booted in place) and gzip for a registry.
	Compress image.Compression

	Runtime  RuntimeConfig
	KubeVirt KubeVirtConfig
}

// RuntimeConfig reaches the included runtime.
type RuntimeConfig struct {
	URI, StateDir string
	Accel         string // auto | kvm | tcg
	// ProbeKernel and ProbeInitrd smoke-boot KVM (migrated disks carry no
	// kernel to try).
	ProbeKernel, ProbeInitrd string
	Log                      *slog.Logger
}

// KubeVirtConfig reaches a KubeVirt cluster (or, for the pods target, any
// cluster with pod VM nodes) and the registry it pulls from.
type KubeVirtConfig struct {
	Kubeconfig  string
	Registry    string // HOST[:PORT]/PREFIX
	TLSVerify   bool
	Namespace   string
	RunStrategy string
}

// Migration is a run wired to its sources and target, ready to Run.
type Migration struct {
	*Runner
	closers []func()
}

// New checks cfg, connects to what the plan needs (vSphere, libvirt or
// the cluster) and prepares the run directory. Close releases it all.
func New(ctx context.Context, cfg Config) (m *Migration, err error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	// Which VMs run is settled before anything is made.
	if _, err := selectVMs(cfg.Plan, cfg.Run.VMs); err != nil {
		return nil, err
	}
	made := &Migration{}
	m = made
	defer func() {
		if err != nil {
			// m is nil here (return nil, err): close what was made.
			made.Close()
		}
	}()
	if err := os.MkdirAll(cfg.Run.RunDir, 0o755); err != nil {
		return nil, fmt.Errorf("run directory: %w", err)
	}
	runPlan := filepath.Join(cfg.Run.RunDir, runrecord.PlanFile)
	if old, err := os.ReadFile(runPlan); err == nil && !bytes.Equal(old, cfg.PlanData) {
		return nil, &UsageError{fmt.Errorf("run directory %s was made from another plan: use a new --run-dir (or remove the old one)", cfg.Run.RunDir)}
	}
	if err := atomicfile.WriteFile(runPlan, cfg.PlanData, 0o644); err != nil {
		return nil, err
	}
	open := LocalFiles(cfg.BaseDir, cfg.Paths)
	if (NeedsVSphere(cfg.Plan) || cfg.SourcePowerOff) && cfg.VSphere.URL != "" {
		conn, err := vsphere.Connect(ctx, cfg.VSphere)
		if err != nil {
			return nil, err
		}
		m.closers = append(m.closers, func() { conn.Logout(context.WithoutCancel(ctx)) })
		if cfg.Transfer == TransferExport {
			open = VSphereExport(conn, open)
		} else {
			open = VSphereDatastore(conn, open, DatastoreOptions{FullRead: cfg.FullRead})
		}
		if cfg.SourcePowerOff {
			cfg.Run.Quiesce = PowerOffSource(conn, 2*time.Minute)
		} else {
			cfg.Run.PowerState = SourcePowerState(conn)
		}
		if cfg.Warm != nil {
			w := *cfg.Warm
			w.Source = VSphereWarm{conn}
			cfg.Run.Warm = &w
		}
	}
	disks := &DiskPipeline{Open: open, GuestConversion: cfg.GuestConversion, GuestCacheDir: cfg.GuestCacheDir}
	work := filepath.Join(cfg.Run.RunDir, "tmp")
	var target Target
	switch cfg.Target {
	case TargetKubeVirt:
		k := cfg.KubeVirt
		client, err := kubevirt.NewClient(k.Kubeconfig)
		if err != nil {
			return nil, err
		}
		if err := client.CheckInstalled(ctx, false); err != nil {
			return nil, err
		}
		verify := k.TLSVerify
		target = &KubeVirtTarget{Client: client, Registry: k.Registry, RegistryOpts: image.RegistryOptions{TLSVerify: &verify},
			Options: kubevirt.Options{Namespace: k.Namespace, RunStrategy: k.RunStrategy}, ReadyTimeout: cfg.ReadyTimeout, WorkDir: work, Compress: cfg.Compress}
		// Guest conversion runs here, not on the cluster: KVM for its
		// appliance only when asked for.
		disks.ApplianceAccel = func(context.Context) string {
			if cfg.Runtime.Accel == host.AccelKVM {
				return host.AccelKVM
			}
			return host.AccelTCG
		}
	case TargetPods:
		k := cfg.KubeVirt
		client, err := kubevirt.NewClient(k.Kubeconfig)
		if err != nil {
			return nil, err
		}
		verify := k.TLSVerify
		target = &PodsTarget{Client: client.Kube, Registry: k.Registry, RegistryOpts: image.RegistryOptions{TLSVerify: &verify},
			Namespace: k.Namespace, ReadyTimeout: cfg.ReadyTimeout, WorkDir: work, Compress: cfg.Compress}
		disks.ApplianceAccel = func(context.Context) string {
			if cfg.Runtime.Accel == host.AccelKVM {
				return host.AccelKVM
			}
			return host.AccelTCG
		}
	default:
		r := cfg.Runtime
		opts := []runtime.Option{runtime.WithURI(r.URI), runtime.WithStateDir(r.StateDir)}
		if r.Log != nil {
			opts = append(opts, runtime.WithLogger(r.Log))
		}
		if r.ProbeKernel != "" {
			opts = append(opts, runtime.WithProbeGuest(r.ProbeKernel, r.ProbeInitrd))
		}
		rt, err := runtime.New(ctx, opts...)
		if err != nil {
			return nil, err
		}
		m.closers = append(m.closers, func() { rt.Close() })
		t := &RuntimeTarget{Runtime: rt, Accel: r.Accel, Ready: cfg.ReadyTimeout, WorkDir: work, Compress: cfg.Compress, Replace: cfg.Replace}
		target, disks.ApplianceAccel = t, t.ApplianceAccel
		// Packaging takes each transferred disk as its layer in place:
		// the layer digest is computed as the disk is written.
		disks.LayerHash = t.Compress == "" || t.Compress == image.CompressNone
	}
	runner, err := NewRunner(cfg.Plan, disks, target, cfg.Run)
	if err != nil {
		return nil, err
	}
	m.Runner = runner
	return m, nil
}

// Close ends the run and the connections New made.
func (m *Migration) Close() error {
	var err error
	if m.Runner != nil {
		err = m.Runner.Close()
	}
	for i := len(m.closers) - 1; i >= 0; i-- {
		m.closers[i]()
	}
	m.closers = nil
	return err
}

// UsageError is a Config that cannot work as given (the CLI exits 2).
type UsageError struct{ Err error }

// Error returns the underlying error's text.
func (e *UsageError) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *UsageError) Unwrap() error { return e.Err }

// check validates the parts of cfg a user sets, before anything connects.
func (c *Config) check() error {
	bad := func(format string, a ...any) error {
		return &UsageError{fmt.Errorf(format, a...)}
	}
	if c.Plan == nil {
		return bad("no plan")
	}
	for _, n := range []struct {
		flag string
		v    int
	}{{"--parallel", c.Run.Parallel}, {"--per-datastore", c.Run.PerDatastore}, {"--per-host", c.Run.PerHost}} {
		if n.v < 1 {
			return bad("%s %d: want 1 or more", n.flag, n.v)
		}
	}
	if c.Run.Retries < 0 {
		return bad("--retries %d: want 0 or more", c.Run.Retries)
	}
	switch c.Transfer {
	case "":
		c.Transfer = TransferDatastore
	case TransferDatastore, TransferExport:
	default:
		return bad("--transfer %q: want datastore or export", c.Transfer)
	}
	switch c.Target {
	case "":
		c.Target = TargetRuntime
	case TargetRuntime:
	case TargetKubeVirt:
		if c.KubeVirt.Registry == "" {
			return bad("--target kubevirt needs --registry HOST/PREFIX: the cluster pulls the pod VM images from there")
		}
	case TargetPods:
		if c.KubeVirt.Registry == "" {
			return bad("--target pods needs --registry HOST/PREFIX: the nodes pull the pod VM images from there")
		}
	default:
		return bad("--target %q: want runtime, kubevirt or pods", c.Target)
	}
	if c.SourcePowerOff && c.VSphere.URL == "" {
		return bad("--source-power-off needs the vSphere connection (--url or GOVC_URL)")
	}
	if c.Warm != nil {
		if c.VSphere.URL == "" {
			return bad("--warm needs the vSphere connection (--url or GOVC_URL)")
		}
		if c.Warm.CutoverAfter < 0 {
			return bad("--cutover-after %d: want 1 or more rounds", c.Warm.CutoverAfter)
		}
		if c.Warm.Interval < 0 {
			return bad("--precopy-interval %s: want a positive duration", c.Warm.Interval)
		}
	}
	if NeedsVSphere(c.Plan) && c.VSphere.URL == "" {
		return bad("the plan has disks on vSphere datastores: give the vSphere connection (--url or GOVC_URL)")
	}
	return nil
}

// NeedsVSphere reports whether a disk of the plan lives on a datastore (or
// is named as a VM's disk, vm:NAME/DISK).
func NeedsVSphere(p *plan.Plan) bool {
	for _, vm := range p.VMs {
		for _, d := range vm.Spec.Disks {
			if src, err := disksource.Parse(d.Source); err == nil && src.NeedsVSphere() {
				return true
			}
		}
	}
	return false
}
