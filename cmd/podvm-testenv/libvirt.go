package main

import (
	"context"
	"fmt"
	"time"

	"github.com/podvm-migrate/podvm-migrate/internal/output"
	"github.com/podvm-migrate/podvm-migrate/testenv/libvirtd"
	"github.com/spf13/cobra"
)

func init() { register(newLibvirtCommand) }

func newLibvirtCommand(o *options) *cobra.Command {
	var uri string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "libvirt",
		Short: "Start virtlogd and libvirtd if they are not running, and check the connection",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			st, err := libvirtd.Ensure(ctx, uri)
			if err != nil {
				return err
			}
			return output.Print(cmd.OutOrStdout(), orTable(o.format), libvirtTable{st})
		},
	}
	cmd.Flags().StringVar(&uri, "connect", "qemu:///system", "libvirt URI")
	cmd.Flags().DurationVar(&timeout, "timeout", time.Minute, "how long to wait for libvirtd to answer")
	return cmd
}

type libvirtTable struct{ *libvirtd.Status }

func (l libvirtTable) Header() []string {
	return []string{"uri", "libvirt", "qemu", "started", "connected in"}
}
func (l libvirtTable) Rows() [][]string {
	started := "nothing (already running)"
	if len(l.Started) > 0 {
		started = fmt.Sprint(l.Started)
	}
	return [][]string{{l.URI, l.LibvirtVersion, l.HypervisorVer, started, l.ConnectDuration}}
}
