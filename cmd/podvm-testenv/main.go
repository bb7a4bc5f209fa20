// Command podvm-testenv builds and serves the real components that the
// tests and the demo of podvm-migrate use: a bootable test guest in every
// VMware format, a started libvirtd, and (later) a vSphere simulator,
// a Kubernetes API server and an OCI registry.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/podvm-migrate/podvm-migrate/internal/output"
	"github.com/podvm-migrate/podvm-migrate/testenv"
)

type usageError struct{ error }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCommand()
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		var ue usageError
		if errors.As(err, &ue) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

type options struct {
	output   string
	format   output.Format
	cacheDir string
}

func newRootCommand() *cobra.Command {
	o := &options{}
	root := &cobra.Command{
		Use:           "podvm-testenv",
		Short:         "Build and serve the real test environment of podvm-migrate",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(*cobra.Command, []string) error {
			f, err := output.ParseFormat(o.output)
			if err != nil {
				return usageError{err}
			}
			o.format = f
			return nil
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.PersistentFlags().StringVarP(&o.output, "output", "o", "", "output format: json, yaml or table")
	root.PersistentFlags().StringVar(&o.cacheDir, "cache-dir", testenv.DefaultCacheDir(), "where downloads and probe results are kept ($PODVM_CACHE)")
	for _, newCmd := range commands {
		root.AddCommand(newCmd(o))
	}
	return root
}

// commands holds the subcommands; each command's file registers itself in
// its init function, so adding a command never touches this file.
var commands []func(*options) *cobra.Command

func register(newCmd func(*options) *cobra.Command) { commands = append(commands, newCmd) }

func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return usageError{fmt.Errorf("%w (see '%s --help')", err, cmd.CommandPath())}
		}
		return nil
	}
}

func orTable(f output.Format) output.Format {
	if f == output.Auto {
		return output.Table
	}
	return f
}

// serveUntil blocks while a server runs: until ctx ends (Ctrl-C) or, when
// d > 0, d has passed.
func serveUntil(ctx context.Context, d time.Duration) {
	if d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	<-ctx.Done()
}
