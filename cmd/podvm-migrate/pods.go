package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/podvm-migrate/podvm-migrate/runtime"
)

func init() {
	register(newListCommand)
	register(newLogsCommand)
	register(newStopCommand)
	register(newRmCommand)
}

func newListCommand(g *globalOptions) *cobra.Command {
	var rf runtimeFlags
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ps"},
		Short:   "List our pod VMs with state, uptime, accelerator and image",
		Example: `  podvm-migrate list
  podvm-migrate list -o json
  PODVM_STATE_DIR=/srv/podvms podvm-migrate list`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			rt, err := rf.open(cmd, g)
			if err != nil {
				return err
			}
			defer rt.Close()
			pods, err := rt.List(cmd.Context())
			if err != nil {
				return err
			}
			if pods == nil {
				pods = []runtime.PodVM{} // -o json: [], not null
			}
			return printPodResult(cmd, g, podTable(pods))
		},
	}
	rf.register(cmd.Flags())
	return cmd
}

func newLogsCommand(g *globalOptions) *cobra.Command {
	var (
		rf     runtimeFlags
		follow bool
	)
	cmd := &cobra.Command{
		Use:   "logs NAME",
		Short: "Print a pod VM's serial console log",
		Example: `  podvm-migrate logs web01
  podvm-migrate logs -f web01`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			rt, err := rf.open(cmd, g)
			if err != nil {
				return err
			}
			defer rt.Close()
			return rt.Logs(cmd.Context(), args[0], cmd.OutOrStdout(), follow)
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing until the pod VM stops")
	rf.register(cmd.Flags())
	return cmd
}

func newStopCommand(g *globalOptions) *cobra.Command {
	var (
		rf    runtimeFlags
		grace time.Duration
	)
	cmd := &cobra.Command{
		Use:   "stop NAME...",
		Short: "Stop pod VMs (ACPI shutdown, then power off after --time)",
		Example: `  podvm-migrate stop web01
  podvm-migrate stop -t 0 web01 db01   # power off at once`,
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return eachPod(cmd, g, &rf, args, func(rt *runtime.Runtime, name string) error {
				return rt.Stop(cmd.Context(), name, grace)
			})
		},
	}
	cmd.Flags().DurationVarP(&grace, "time", "t", 10*time.Second, "how long the guest may take to shut down before it is powered off (0: at once)")
	rf.register(cmd.Flags())
	return cmd
}

func newRmCommand(g *globalOptions) *cobra.Command {
	var (
		rf    runtimeFlags
		force bool
	)
	cmd := &cobra.Command{
		Use:   "rm NAME...",
		Short: "Remove stopped pod VMs: their overlays, logs and domains (never the image)",
		Example: `  podvm-migrate stop web01 && podvm-migrate rm web01
  podvm-migrate rm -f web01   # a running one: power it off first`,
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return eachPod(cmd, g, &rf, args, func(rt *runtime.Runtime, name string) error {
				return rt.Remove(cmd.Context(), name, force)
			})
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "power off a running pod VM first")
	rf.register(cmd.Flags())
	return cmd
}

// eachPod opens the runtime and applies do to each named pod VM in turn,
// printing each name once done and stopping at the first error.
func eachPod(cmd *cobra.Command, g *globalOptions, rf *runtimeFlags, names []string, do func(*runtime.Runtime, string) error) error {
	rt, err := rf.open(cmd, g)
	if err != nil {
		return err
	}
	defer rt.Close()
	for _, name := range names {
		if err := do(rt, name); err != nil {
			return err
		}
		fmt.Fprintln(cmd.OutOrStdout(), name)
	}
	return nil
}
