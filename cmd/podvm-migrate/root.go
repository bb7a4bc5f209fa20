package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/podvm-migrate/podvm-migrate/internal/output"
	"github.com/podvm-migrate/podvm-migrate/vsphere"
)

// globalOptions are the flags every command shares.
type globalOptions struct {
	output     string
	logLevel   string
	kubeconfig string
	vsphere    vsphere.Config
	log        *slog.Logger
	// format is -o, resolved once before any command runs: never Auto.
	format output.Format
	// formatGiven says -o was given rather than defaulted.
	formatGiven bool
}

// outputDefault is the annotation by which a command says what its output
// is when -o is not given: "table" (unset: the default) or "auto" (a table
// on a terminal, JSON otherwise), for commands whose output is data for
// other tools.
const outputDefault = "podvm-migrate/output-default"

// resolveFormat turns an -o left unset into the command's default.
func resolveFormat(cmd *cobra.Command, f output.Format) output.Format {
	if f != output.Auto {
		return f
	}
	for c := cmd; c != nil; c = c.Parent() {
		if c.Annotations[outputDefault] == "auto" {
			return output.Auto.Resolve(cmd.OutOrStdout())
		}
	}
	return output.Table
}

func newRootCommand() *cobra.Command {
	g := &globalOptions{}
	env := vsphere.ConfigFromEnv(os.Getenv)
	root := &cobra.Command{
		Use:   "podvm-migrate",
		Short: "Move VMware VMs to pod VMs on KVM or KubeVirt",
		Long: `podvm-migrate gets VMs off VMware. It inventories vSphere (or .vmx/.ovf/.ova
files), checks and plans each VM's move, converts its disks into pod VM images
(OCI images holding qcow2 disks and the VM's spec), and runs them on its own
libvirt/QEMU pod-VM runtime or on KubeVirt, with compatibility and performance
reports.

vSphere connection flags read govc's environment: GOVC_URL, GOVC_USERNAME,
GOVC_PASSWORD, GOVC_INSECURE, GOVC_TLS_CA_CERTS, GOVC_TLS_KNOWN_HOSTS,
GOVC_THUMBPRINT. The password is read from GOVC_PASSWORD or --password-file,
never from a flag.

Exit codes: 0 success, 1 failure, 2 bad usage, 3 some VMs are blocked,
130 interrupted (Ctrl-C; 143 on SIGTERM).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			f, err := output.ParseFormat(g.output)
			if err != nil {
				return usageError{err}
			}
			g.format, g.formatGiven = resolveFormat(cmd, f), cmd.Flags().Changed("output")
			var lvl slog.Level
			if err := lvl.UnmarshalText([]byte(g.logLevel)); err != nil {
				return usageError{fmt.Errorf("--log-level %q: want debug, info, warn or error", g.logLevel)}
			}
			g.log = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: lvl}))
			g.vsphere = mergeVSphereEnv(cmd.Flags().Changed, g.vsphere, env)
			return nil
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	pf := root.PersistentFlags()
	pf.StringVarP(&g.output, "output", "o", "", "output format: json, yaml or table (default: table; discover and plan rules: table on a terminal, json otherwise)")
	pf.StringVar(&g.logLevel, "log-level", "info", "log level on stderr: debug, info, warn or error")
	pf.StringVar(&g.kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig file for the KubeVirt target ($KUBECONFIG)")
	pf.StringVar(&g.vsphere.URL, "url", "", "vCenter or ESXi URL, e.g. https://vc.example.com/sdk ($GOVC_URL)")
	pf.StringVar(&g.vsphere.Username, "username", "", "vSphere user name ($GOVC_USERNAME)")
	pf.StringVar(&g.vsphere.PasswordFile, "password-file", "", "file whose first line is the vSphere password (else $GOVC_PASSWORD)")
	pf.BoolVar(&g.vsphere.Insecure, "insecure", false, "skip TLS certificate verification ($GOVC_INSECURE)")
	pf.StringVar(&g.vsphere.CACerts, "ca-cert", "", "PEM file(s) of CAs to trust, ':'-separated ($GOVC_TLS_CA_CERTS)")
	pf.StringVar(&g.vsphere.Thumbprint, "thumbprint", "", "pin the server certificate by its SHA-1 or SHA-256 thumbprint ($GOVC_THUMBPRINT); a refused connection prints the one the server presents")
	pf.StringVar(&g.vsphere.KnownHosts, "known-hosts", "", "file of 'host thumbprint' lines to pin ($GOVC_TLS_KNOWN_HOSTS)")

	for _, newCmd := range commands {
		root.AddCommand(newCmd(g))
	}
	return root
}

// commands holds the subcommands; each command's file registers itself in
// its init function, so adding a command never touches this file.
var commands []func(*globalOptions) *cobra.Command

func register(newCmd func(*globalOptions) *cobra.Command) { commands = append(commands, newCmd) }

// mergeVSphereEnv fills every vSphere setting not given as a flag from the
// GOVC_* environment. Env values are not flag defaults, so --help never
// shows them (GOVC_URL may carry a password).
func mergeVSphereEnv(changed func(flag string) bool, flags, env vsphere.Config) vsphere.Config {
	c := env
	set := func(name string, apply func()) {
		if changed(name) {
			apply()
		}
	}
	set("url", func() { c.URL = flags.URL })
	set("username", func() { c.Username = flags.Username })
	set("password-file", func() { c.PasswordFile = flags.PasswordFile })
	set("insecure", func() { c.Insecure = flags.Insecure })
	set("ca-cert", func() { c.CACerts = flags.CACerts })
	set("thumbprint", func() { c.Thumbprint = flags.Thumbprint })
	set("known-hosts", func() { c.KnownHosts = flags.KnownHosts })
	return c
}

// usageArgs makes an argument-count error exit with the usage code.
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return usageError{fmt.Errorf("%w (see '%s --help')", err, cmd.CommandPath())}
		}
		return nil
	}
}
