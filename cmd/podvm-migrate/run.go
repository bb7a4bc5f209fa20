package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/podvm-migrate/podvm-migrate/internal/output"
	"github.com/podvm-migrate/podvm-migrate/runtime"
)

func init() { register(newRunCommand) }

// runtimeFlags connect the pod-VM commands to libvirt and the state folder.
type runtimeFlags struct {
	uri, stateDir       string
	probeKernel, probeI string
	reg                 registryFlags
}

func (r *runtimeFlags) register(f *pflag.FlagSet) {
	uri := os.Getenv("LIBVIRT_DEFAULT_URI")
	if uri == "" {
		uri = runtime.DefaultURI
	}
	f.StringVarP(&r.uri, "connect", "c", uri, "libvirt URI ($LIBVIRT_DEFAULT_URI)")
	f.StringVar(&r.stateDir, "state-dir", defaultStateDir(), "where images, overlays and logs of pod VMs live ($PODVM_STATE_DIR)")
}

// defaultStateDir is every --state-dir's default: $PODVM_STATE_DIR, else
// the runtime's.
func defaultStateDir() string {
	if s := os.Getenv("PODVM_STATE_DIR"); s != "" {
		return s
	}
	return runtime.DefaultStateDir
}

func (r *runtimeFlags) open(cmd *cobra.Command, g *globalOptions, extra ...runtime.Option) (*runtime.Runtime, error) {
	opts := append([]runtime.Option{runtime.WithURI(r.uri), runtime.WithStateDir(r.stateDir), runtime.WithLogger(g.log),
		runtime.WithRegistry(r.reg.options(cmd.Flags().Changed))}, extra...)
	if r.probeKernel != "" {
		opts = append(opts, runtime.WithProbeGuest(r.probeKernel, r.probeI))
	}
	return runtime.New(cmd.Context(), opts...)
}

func newRunCommand(g *globalOptions) *cobra.Command {
	var (
		rf       runtimeFlags
		cfg      runtime.MachineConfig
		publish  []string
		specFile string
		detach   bool
	)
	cmd := &cobra.Command{
		Use:   "run IMAGE|DISK",
		Short: "Run a pod VM from a pod VM image or a disk on the included KVM runtime",
		Long: `Run a pod VM as a libvirt domain: from a pod VM image (oci:DIR:TAG or
docker://HOST/REPO:TAG, taken once into --state-dir: an uncompressed local
layout is linked and booted in place, anything else unpacked; every disk is
checked against its recorded SHA-256 on first use; its disks stay
read-only and the pod VM writes to a qcow2 overlay) or from a qcow2/raw/VMDK
disk with --spec (default: a small Linux spec).

The accelerator is KVM only when a short smoke boot proves KVM works here
(cached per host); otherwise TCG. It is printed with every run. The serial
console goes to a log file ('podvm-migrate logs'). NICs are on user-mode
networking with --publish port forwards, unless the spec's NIC network (the
plan's network map) or --network says libvirt:NAME (a libvirt network,
started when inactive) or bridge:NAME (a host bridge); 'list' shows the
guest's addresses. --wait-ready waits for the readiness line on the
serial console (or --ready agent: qemu-guest-agent).`,
		Example: `  podvm-migrate run oci:./images/web01:v1 --name web01 --wait-ready --publish 8080:80
  podvm-migrate run disk.qcow2 --spec web01.json --accel tcg
  podvm-migrate run oci:./images/web01:v1 --network libvirt:default --wait-ready`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg.Image = args[0]
			for _, p := range publish {
				pf, err := runtime.ParsePublish(p)
				if err != nil {
					return usageError{err}
				}
				cfg.Publish = append(cfg.Publish, pf)
			}
			switch cfg.Accel {
			case "auto", "kvm", "tcg":
			default:
				return usageError{fmt.Errorf("--accel %q: want auto, kvm or tcg", cfg.Accel)}
			}
			if specFile != "" {
				s, err := readSpec(specFile)
				if err != nil {
					return err
				}
				cfg.Spec = s
			}
			cfg.WaitReady = cfg.WaitReady && !detach
			rt, err := rf.open(cmd, g)
			if err != nil {
				return err
			}
			defer rt.Close()
			// Booting can take a while (TCG): say what is being waited for.
			announce := runtime.Handler{Name: "announce", Fn: func(_ context.Context, m *runtime.Machine) error {
				if p := m.Pod(); p != nil && cfg.WaitReady && cfg.Ready != runtime.ReadyNone {
					what := fmt.Sprintf("%q on its serial console", cfg.ReadyLine)
					if cfg.Ready == runtime.ReadyAgent {
						what = "qemu-guest-agent"
					}
					fmt.Fprintf(cmd.ErrOrStderr(), "pod VM %s started (%s); waiting up to %s for %s\n", p.Name, p.Accel, cfg.ReadyTimeout, what)
				}
				return nil
			}}
			m := rt.NewMachine(cfg, runtime.WithHandlers(runtime.DefaultHandlers().InsertBefore(runtime.WaitReadyHandler, announce)))
			p, err := m.Start(cmd.Context())
			if err != nil {
				return err
			}
			return printPodResult(cmd, g, podTable{*p})
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Name, "name", "", "pod VM name (default: the spec's name)")
	f.StringVar(&specFile, "spec", "", "pod VM spec (JSON or YAML); for an image it replaces the image's spec")
	f.StringArrayVarP(&publish, "publish", "p", nil, "publish a guest port: [ADDR:]HOSTPORT:GUESTPORT[/tcp|/udp] (repeatable)")
	f.StringVar(&cfg.Network, "network", "", "put every NIC on this network instead of the spec's: libvirt:NAME (started when inactive), bridge:NAME or user (port forwards)")
	f.StringVar(&cfg.Accel, "accel", "auto", "accelerator: auto (smoke-tested KVM, else TCG), kvm or tcg")
	f.BoolVar(&cfg.WaitReady, "wait-ready", false, "wait until the guest is ready")
	f.BoolVarP(&detach, "detach", "d", false, "return as soon as the domain runs (overrides --wait-ready)")
	f.StringVar(&cfg.Ready, "ready", "serial", "readiness signal: serial (a console line) or agent (qemu-guest-agent)")
	f.StringVar(&cfg.ReadyLine, "ready-line", runtime.DefaultReadyLine, "serial console text that means ready")
	f.DurationVar(&cfg.ReadyTimeout, "timeout", 2*time.Minute, "give up waiting for readiness after this long")
	f.BoolVar(&cfg.Fast, "fast", false, "boot the kernel directly (the image's, or --kernel), skipping firmware and boot loader")
	f.StringVar(&cfg.Kernel, "kernel", "", "kernel for --fast when the image carries none")
	f.StringVar(&cfg.Initrd, "initrd", "", "initramfs for --fast")
	f.StringVar(&cfg.Cmdline, "cmdline", "", "kernel command line for --fast")
	f.StringVar(&rf.probeKernel, "probe-kernel", "", "kernel for the KVM smoke boot (default: the image's)")
	f.StringVar(&rf.probeI, "probe-initrd", "", "initramfs for the KVM smoke boot")
	rf.register(f)
	rf.reg.register(f)
	return cmd
}

// podTable prints pod VMs as a table.
type podTable []runtime.PodVM

func (p podTable) Header() []string {
	return []string{"name", "state", "uptime", "accel", "ready after", "addresses", "image"}
}

func (p podTable) Rows() [][]string {
	var rows [][]string
	for _, x := range p {
		up, ready := "-", "-"
		if x.Uptime > 0 {
			up = time.Duration(x.Uptime).Round(time.Second).String()
		}
		if x.ReadyAfter > 0 {
			ready = time.Duration(x.ReadyAfter).Round(time.Millisecond).String()
		}
		rows = append(rows, []string{x.Name, x.State, up, x.Accel, ready, addressList(x.Addresses), x.Image})
	}
	return rows
}

// addressList is a pod VM's addresses for a table cell, "-" for none.
func addressList(as []runtime.Address) string {
	if len(as) == 0 {
		return "-"
	}
	ips := make([]string, len(as))
	for i, a := range as {
		ips[i] = a.IP
	}
	return strings.Join(ips, ",")
}

// printPodResult prints v as -o asks, a table by default.
func printPodResult(cmd *cobra.Command, g *globalOptions, v any) error {
	f := g.format
	if t, ok := v.(podTable); ok && f != output.Table && len(t) == 1 && cmd.Name() == "run" {
		return output.Print(cmd.OutOrStdout(), f, t[0])
	}
	return output.Print(cmd.OutOrStdout(), f, v)
}
