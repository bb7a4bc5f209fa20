package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/podvm-migrate/podvm-migrate/internal/output"
	"github.com/podvm-migrate/podvm-migrate/migrate"
)

func init() { register(newCutoverCommand) }

// warmFlags are migrate's warm migration flags.
type warmFlags struct {
	warm, enableCBT bool
	interval, grace time.Duration
	after           int
	at              string
}

func (w *warmFlags) register(fl *pflag.FlagSet) {
	fl.BoolVar(&w.warm, "warm", false, "warm migration: copy powered-on VMs with CBT in precopy rounds while they run (snapshot, changed areas, in-place update), then cut over; "+
		"each VM keeps one --parallel slot from its first round to its cutover; powered-off VMs and VMs without CBT go cold")
	fl.BoolVar(&w.enableCBT, "enable-cbt", false, "with --warm: switch CBT on for powered-on VMs without it (a short stun: a snapshot taken and removed)")
	fl.DurationVar(&w.interval, "precopy-interval", time.Minute, "with --warm: pause between precopy rounds")
	fl.IntVar(&w.after, "cutover-after", 0, "with --warm: cut over after this many precopy rounds (default: on request, 'podvm-migrate cutover RUN_DIR', or --cutover-at)")
	fl.StringVar(&w.at, "cutover-at", "", "with --warm: cut over at this time (RFC 3339, e.g. 2026-12-06T02:00:00Z), after the first round")
	fl.DurationVar(&w.grace, "shutdown-timeout", 2*time.Minute, "with --warm: how long the guest gets to shut down at cutover before the VM is powered off")
}

// options turns the flags into the migration's warm options; nil without --warm.
func (w *warmFlags) options() (*migrate.WarmOptions, error) {
	if !w.warm {
		if w.enableCBT || w.after != 0 || w.at != "" {
			return nil, usageError{fmt.Errorf("--enable-cbt, --cutover-after and --cutover-at need --warm")}
		}
		return nil, nil
	}
	o := &migrate.WarmOptions{EnableCBT: w.enableCBT, Interval: w.interval, CutoverAfter: w.after, ShutdownGrace: w.grace}
	if w.interval <= 0 {
		return nil, usageError{fmt.Errorf("--precopy-interval %s: want a positive duration", w.interval)}
	}
	if w.after < 0 {
		return nil, usageError{fmt.Errorf("--cutover-after %d: want 1 or more rounds", w.after)}
	}
	if w.at != "" {
		t, err := time.Parse(time.RFC3339, w.at)
		if err != nil {
			return nil, usageError{fmt.Errorf("--cutover-at %q: want an RFC 3339 time such as 2026-12-06T02:00:00Z", w.at)}
		}
		o.CutoverAt = t
	}
	return o, nil
}

func newCutoverCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "cutover RUN_DIR [VM...]",
		Short: "Ask a running warm migration to cut over now (every VM, or those named)",
		Long: `A 'migrate --warm' without --cutover-after or --cutover-at copies its VMs in
precopy rounds until asked to cut over. This command asks: the running migrate
sees the request before its next round, shuts the source VM down, copies the
final delta and boots the pod VM. VMs are named as in the plan (pod VM or
source name); without names, every VM of the run cuts over. It fails when no
migrate runs in RUN_DIR, or a named VM is not in its plan, is already cut over
or is copied cold.`,
		Example: `  podvm-migrate cutover ./run
  podvm-migrate cutover ./run web-1 db-1`,
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := migrate.CheckCutover(args[0], args[1:]); err != nil {
				return err
			}
			if err := migrate.RequestCutover(args[0], args[1:]); err != nil {
				return err
			}
			vms := args[1:]
			if len(vms) == 0 {
				vms = []string{"all"}
			}
			var rows cutoverTable
			for _, vm := range vms {
				rows = append(rows, cutoverRow{VM: vm, Cutover: "requested"})
			}
			return output.Print(cmd.OutOrStdout(), g.format, rows)
		},
	}
}

type cutoverRow struct {
	VM      string `json:"vm"`
	Cutover string `json:"cutover"`
}

type cutoverTable []cutoverRow

func (c cutoverTable) Header() []string { return []string{"vm", "cutover"} }
func (c cutoverTable) Rows() [][]string {
	var rows [][]string
	for _, r := range c {
		rows = append(rows, []string{r.VM, r.Cutover})
	}
	return rows
}
