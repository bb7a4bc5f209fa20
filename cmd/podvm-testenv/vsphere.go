package main

import (
	"fmt"
	"io"
	"log"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/podvm-migrate/podvm-migrate/testenv/vcsim"
)

func init() { register(newVSphereCommand) }

func newVSphereCommand(o *options) *cobra.Command {
	var (
		vo       vcsim.Options
		envFile  string
		duration time.Duration
		distro   string
		churn    string
	)
	cmd := &cobra.Command{
		Use:   "vsphere [--vms N] [--listen ADDR] [--cbt] [--churn RATE]",
		Short: "Serve a vCenter simulator whose VMs have real disk files",
		Long: `Serve govmomi's vCenter simulator over HTTPS with N VMs (datacenter DC0,
cluster DC0_C0 with two hosts, standalone host DC0_H0, datastores datastore1
and datastore2 backed by local folders, folders apps, apps/web and db). The
VMs carry a mix of devices: EFI, secure boot, vTPM, RDM, independent and
shared multi-writer disks, NVMe and SATA, snapshots, several NICs, USB, PCI
passthrough, SR-IOV, CBT, CPU affinity, guest info with IPs and free space.
Every disk is a real file: --guest-vmdk (e.g. the guest.vmdk of
'podvm-testenv image') is hard-linked as each VM's first disk.

Snapshots write real delta disks (removal merges them) and
QueryChangedDiskAreas answers from changed block tracking, as vCenter
does. --cbt turns CBT on for every VM; --churn RATE (e.g. 4MiB/s) makes
every powered-on VM write random 64 KiB blocks at that rate into its
disks' free space until a guest shutdown or power off, standing in for a
busy guest during a warm migration.

Prints the GOVC_* variables for govc or podvm-migrate (eval-able with
--env-file), including GOVC_TLS_CA_CERTS naming the server's self-signed
certificate (valid for 127.0.0.1), then serves until interrupted.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			log.SetOutput(io.Discard) // the simulator logs every expected fault
			if churn != "" {
				rate, err := vcsim.ParseRate(churn)
				if err != nil {
					return usageError{fmt.Errorf("--churn: %w", err)}
				}
				vo.Churn = rate
			}
			vo.Log = func(f string, a ...any) { fmt.Fprintf(cmd.ErrOrStderr(), "vsphere: "+f+"\n", a...) }
			if err := debianGuestVMDK(cmd, o, distro, &vo); err != nil {
				return err
			}
			v, err := vcsim.Start(cmd.Context(), vo)
			if err != nil {
				return err
			}
			defer v.Close()
			env := ""
			for _, kv := range v.Env() {
				k, val, _ := strings.Cut(kv, "=")
				env += fmt.Sprintf("export %s=%q\n", k, val)
			}
			env += fmt.Sprintf("export GOVC_THUMBPRINT=%q\n", v.Thumbprint)
			if envFile != "" {
				if err := os.WriteFile(envFile, []byte(env), 0o600); err != nil {
					return fmt.Errorf("env file: %w", err)
				}
			}
			fmt.Fprint(cmd.OutOrStdout(), env)
			fmt.Fprintf(cmd.ErrOrStderr(), "vsphere: serving %d VMs at %s (Ctrl-C to stop)\n", len(v.VMs), v.URL)
			ctx := cmd.Context()
			serveUntil(ctx, duration)
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&vo.VMs, "vms", 20, "number of VMs")
	f.StringVar(&vo.Listen, "listen", "127.0.0.1:0", "address to serve on (port 0: any free port)")
	f.StringVar(&vo.Dir, "dir", "", "folder for the datastores and certificate (default: a temporary folder, removed on exit)")
	f.StringVar(&vo.GuestVMDK, "guest-vmdk", "", "real VMDK to place as every VM's first disk (default: generated flat VMDKs)")
	f.StringVar(&vo.Username, "username", "podvm", "user name the simulator accepts")
	f.IntVar(&vo.Parallel, "parallel", 8, "VMs created at once")
	f.StringVar(&envFile, "env-file", "", "also write the export lines to this file (mode 0600)")
	f.DurationVar(&duration, "for", 0, "stop after this long (default: until interrupted)")
	f.BoolVar(&vo.CBT, "cbt", false, "turn changed block tracking on for every VM (each disk has a changeId)")
	f.StringVar(&churn, "churn", "", "every powered-on VM writes random 64 KiB blocks at this rate, e.g. 4MiB/s (default: idle guests)")
	f.IntVar(&vo.ChangedAreasPage, "changed-areas-page", vcsim.DefaultChangedAreasPage, "most areas one QueryChangedDiskAreas answer holds")
	f.StringVar(&distro, "distro", "", "debian: serve the real Debian 12 guest of 'podvm-testenv debian' (built once, cached) as every VM's first disk")
	_ = o
	return cmd
}
