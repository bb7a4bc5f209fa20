package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/podvm-migrate/podvm-migrate/internal/output"
	"github.com/podvm-migrate/podvm-migrate/testenv/debian"
	"github.com/podvm-migrate/podvm-migrate/testenv/vcsim"
)

func init() { register(newDebianCommand) }

func newDebianCommand(o *options) *cobra.Command {
	var (
		out, mirror, netFlag string
		diskMiB              int
		rebuild              bool
	)
	cmd := &cobra.Command{
		Use:   "debian [--out DIR] [--net dhcp|static:ADDR/PREFIX[,gw=GW]]",
		Short: "Build the real Debian 12 test guest, installed as on VMware",
		Long: `Build (once; it is cached by a hash of its recipe under --cache-dir) a Debian 12
guest as a VMware install leaves it: debootstrap minbase, the cloud kernel,
GRUB, systemd, open-vm-tools, an fstab by UUID and an initramfs with the
pvscsi and vmxnet3 drivers but no virtio, on a 2 GiB partitioned disk whose
VMX has a pvscsi controller and a vmxnet3 NIC. A systemd unit prints
"PODVM-READY …" on ttyS0 after multi-user.target.

--net configures the NIC as a VMware admin leaves it: ifupdown's
/etc/network/interfaces bound to ens192 (the vmxnet3 NIC's name), with DHCP
or a static address; the readiness line then adds "ip=ADDRESS nic=NAME".
Each --net is built and cached on its own; without it the guest has no
network configuration. 'podvm-migrate migrate' keeps the name on virtio
(guest conversion pins ens192 to the NIC's MAC from the plan); 'convert
disk' knows no MAC and does not.

Without guest conversion it cannot find its root disk under virtio; after
'podvm-migrate convert disk --guest-conversion=always' it boots.

Files (in the cache folder, or hard-linked into --out):
  debian.vmdk   monolithicSparse VMDK
  debian.vmx    VMX naming debian.vmdk

Serve it from the vCenter simulator with
  podvm-testenv vsphere --guest-vmdk "$(podvm-testenv debian -o json | jq -r .dir)/debian.vmdk"`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			net, err := debian.ParseNet(netFlag)
			if err != nil {
				return usageError{fmt.Errorf("--net: %w", err)}
			}
			g, err := debian.Build(cmd.Context(), debian.Options{
				CacheDir: o.cacheDir, Mirror: mirror, DiskMiB: diskMiB, Rebuild: rebuild, Net: net,
				Log: func(f string, a ...any) { fmt.Fprintf(cmd.ErrOrStderr(), "debian: "+f+"\n", a...) },
			})
			if err != nil {
				return err
			}
			if out != "" {
				if err := linkDebian(g, out); err != nil {
					return err
				}
				g.Dir = out
			}
			return output.Print(cmd.OutOrStdout(), orTable(o.format), debianTable{g})
		},
	}
	f := cmd.Flags()
	f.StringVar(&out, "out", "", "also place the files in this folder (hard links, else copies)")
	f.StringVar(&mirror, "mirror", "", "Debian archive (default: the one apt on this host uses)")
	f.IntVar(&diskMiB, "disk-size", 2048, "guest-visible disk size in MiB")
	f.BoolVar(&rebuild, "rebuild", false, "build even when the cache holds this recipe")
	f.StringVar(&netFlag, "net", "", "configure the NIC with ifupdown on ens192: dhcp or static:ADDR/PREFIX[,gw=GW] (default: no network configuration)")
	return cmd
}

// linkDebian hard-links (else copies) the guest's files into dir.
func linkDebian(g *debian.Guest, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("debian: %w", err)
	}
	for _, n := range []string{debian.VMDK, debian.VMX} {
		dst := filepath.Join(dir, n)
		os.Remove(dst)
		if err := os.Link(g.Path(n), dst); err == nil {
			continue
		}
		b, err := os.ReadFile(g.Path(n))
		if err != nil {
			return fmt.Errorf("debian: %w", err)
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			return fmt.Errorf("debian: %w", err)
		}
	}
	return nil
}

type debianTable struct{ *debian.Guest }

func (g debianTable) Header() []string {
	return []string{"file", "size", "kernel", "root uuid", "cached", "build time"}
}
func (g debianTable) Rows() [][]string {
	var rows [][]string
	for _, f := range []string{debian.VMDK, debian.VMX} {
		size := "?"
		if st, err := os.Stat(g.Path(f)); err == nil {
			size = output.Bytes(st.Size())
		}
		rows = append(rows, []string{g.Path(f), size, g.Kernel, g.RootUUID, fmt.Sprint(g.Cached), g.BuildTime.Round(1e9).String()})
	}
	return rows
}

// debianGuestVMDK points vo.GuestVMDK at the Debian guest for --distro debian.
func debianGuestVMDK(cmd *cobra.Command, o *options, distro string, vo *vcsim.Options) error {
	switch distro {
	case "":
		return nil
	case "debian":
	default:
		return usageError{fmt.Errorf("--distro %q: want debian (or none for the small test guest)", distro)}
	}
	if vo.GuestVMDK != "" {
		return usageError{fmt.Errorf("--distro and --guest-vmdk both name the first disk: give one")}
	}
	g, err := debian.Build(cmd.Context(), debian.Options{CacheDir: o.cacheDir,
		Log: func(f string, a ...any) { fmt.Fprintf(cmd.ErrOrStderr(), "debian: "+f+"\n", a...) }})
	if err != nil {
		return err
	}
	vo.GuestVMDK = g.Path(debian.VMDK)
	return nil
}
