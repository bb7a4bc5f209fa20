package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/podvm-migrate/podvm-migrate/internal/output"
	"github.com/podvm-migrate/podvm-migrate/testenv/registry"
)

func init() { register(newRegistryCommand) }

func newRegistryCommand(o *options) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "registry",
		Short: "Serve a local OCI registry on loopback until interrupted",
		Long: `Start Debian's docker-registry on a free 127.0.0.1 port with filesystem storage
in --dir (a new temporary folder by default, removed on exit), print its
address, and serve until interrupted. It speaks plain HTTP: push and pull
with --tls-verify=false, e.g.

  podvm-migrate image build guest.raw --to docker://ADDR/guest:v1 --tls-verify=false`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				d, err := os.MkdirTemp("", "podvm-registry-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(d)
				dir = d
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			reg, err := registry.Start(ctx, dir)
			cancel()
			if err != nil {
				return err
			}
			defer reg.Stop()
			if err := output.Print(cmd.OutOrStdout(), orTable(o.format), registryTable{reg}); err != nil {
				return err
			}
			err = reg.Wait(cmd.Context())
			if cmd.Context().Err() != nil {
				return nil
			}
			return fmt.Errorf("registry exited: %v", err)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "storage folder (default: a temporary one, removed on exit)")
	return cmd
}

type registryTable struct{ *registry.Server }

func (r registryTable) Header() []string { return []string{"addr", "dir", "example ref"} }
func (r registryTable) Rows() [][]string {
	return [][]string{{r.Addr, r.Dir, r.Ref("podvm/guest:v1")}}
}
