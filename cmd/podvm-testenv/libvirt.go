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
	var defaultNet bool
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
			res := libvirtTable{Status: st}
			if defaultNet {
				if res.Network, err = libvirtd.EnsureNetwork(ctx, uri, libvirtd.DefaultNetworkOptions()); err != nil {
					return err
				}
			}
			return output.Print(cmd.OutOrStdout(), orTable(o.format), res)
		},
	}
	cmd.Flags().StringVar(&uri, "connect", "qemu:///system", "libvirt URI")
	cmd.Flags().BoolVar(&defaultNet, "default-network", false, "also define and start libvirt's default network (virbr0, 192.168.122.0/24, DHCP) for 'libvirt:default'")
	cmd.Flags().DurationVar(&timeout, "timeout", time.Minute, "how long to wait for libvirtd to answer")
	return cmd
}

type libvirtTable struct {
	*libvirtd.Status
	Network *libvirtd.NetworkStatus `json:"network,omitempty"`
}

func (l libvirtTable) Header() []string {
	h := []string{"uri", "libvirt", "qemu", "started", "connected in"}
	if l.Network != nil {
		h = append(h, "network")
	}
	return h
}
func (l libvirtTable) Rows() [][]string {
	started := "nothing (already running)"
	if len(l.Started) > 0 {
		started = fmt.Sprint(l.Started)
	}
	row := []string{l.URI, l.LibvirtVersion, l.HypervisorVer, started, l.ConnectDuration}
	if n := l.Network; n != nil {
		row = append(row, fmt.Sprintf("%s (%s, %s)", n.Name, n.Bridge, n.Address))
	}
	return [][]string{row}
}
