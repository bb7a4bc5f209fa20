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
	"path/filepath"
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
	root.AddCommand(newImageCommand(o), newBootCommand(o), newLibvirtCommand(o))
	return root
}

func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return usageError{fmt.Errorf("%w (see '%s --help')", err, cmd.CommandPath())}
		}
		return nil
	}
}

func newImageCommand(o *options) *cobra.Command {
	var (
		out, firmware, controller, kernelDeb string
		diskMiB                              int
		powerOff, secureBoot                 bool
	)
	cmd := &cobra.Command{
		Use:   "image --out DIR",
		Short: "Build the bootable test guest in every format a VMware shop has",
		Long: `Build the bootable test guest: a Debian cloud kernel and a busybox initramfs
on a FAT partition that syslinux boots under BIOS (SeaBIOS) and UEFI (OVMF).
The guest prints "PODVM-READY uptime=… ip=…" on its first serial port.

Written to DIR, all from the same disk:
  guest.raw          raw disk (sparse)
  guest.vmdk         monolithicSparse VMDK
  guest-stream.vmdk  streamOptimized VMDK (what OVAs and NFC exports hold)
  guest.vmx          VMX naming guest.vmdk (pvscsi or lsilogic, vmxnet3, static MAC)
  guest.ovf, guest.mf, guest.ova   OVF 1.0 package with a SHA256 manifest
  vmlinuz, initrd.img              the kernel and initramfs, for direct boots

The kernel is fetched once with apt-get download into --cache-dir.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return usageError{fmt.Errorf("--out is required")}
			}
			hw := testenv.DefaultHardware(firmware)
			hw.Controller = controller
			hw.SecureBoot = secureBoot
			g, err := testenv.BuildGuest(cmd.Context(), testenv.GuestOptions{
				OutDir: out, CacheDir: o.cacheDir, KernelDeb: kernelDeb, DiskMiB: diskMiB,
				PowerOff: powerOff, Hardware: hw,
				Log: func(f string, a ...any) { fmt.Fprintf(cmd.ErrOrStderr(), "image: "+f+"\n", a...) },
			})
			if err != nil {
				return err
			}
			return output.Print(cmd.OutOrStdout(), orTable(o.format), guestTable{g})
		},
	}
	f := cmd.Flags()
	f.StringVar(&out, "out", "", "output folder (created if missing)")
	f.StringVar(&firmware, "firmware", "bios", "firmware the VMX and OVF declare: bios or efi (the disk boots both)")
	f.BoolVar(&secureBoot, "secure-boot", false, "declare UEFI secure boot in the VMX and OVF (needs --firmware efi)")
	f.StringVar(&controller, "controller", "pvscsi", "SCSI controller in the VMX and OVF: pvscsi or lsilogic")
	f.IntVar(&diskMiB, "disk-size", 64, "guest-visible disk size in MiB")
	f.BoolVar(&powerOff, "power-off", false, "make the guest power itself off after its readiness line")
	f.StringVar(&kernelDeb, "kernel-deb", "", "use this linux-image-*-cloud-amd64 .deb instead of downloading one")
	return cmd
}

type guestTable struct{ *testenv.Guest }

func (g guestTable) Header() []string { return []string{"file", "size", "kernel", "firmware"} }
func (g guestTable) Rows() [][]string {
	var rows [][]string
	for _, f := range g.Files {
		size := "?"
		if st, err := os.Stat(g.Path(f)); err == nil {
			size = humanBytes(st.Size())
		}
		rows = append(rows, []string{g.Path(f), size, g.Kernel, g.Firmware})
	}
	return rows
}

func newBootCommand(o *options) *cobra.Command {
	var (
		bopts          testenv.BootOptions
		accel          string
		kernel, initrd string
	)
	cmd := &cobra.Command{
		Use:   "boot DISK",
		Short: "Boot a disk under bare qemu-system-x86_64 until the guest is ready",
		Long: `Boot DISK (raw, VMDK or qcow2; never modified) under bare qemu-system-x86_64
and wait for the test guest's readiness line on the serial console, then stop
QEMU and print how long it took and which accelerator ran.

--accel auto decides by a short KVM smoke boot of the guest's kernel (found
next to DISK, or --kernel/--initrd), not by /dev/kvm existing: on nested
hosts KVM can be present but hang. The verdict is cached in --cache-dir.`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			bopts.Disk = args[0]
			dir := filepath.Dir(args[0])
			if kernel == "" {
				kernel = filepath.Join(dir, testenv.GuestKernel)
			}
			if initrd == "" {
				initrd = filepath.Join(dir, testenv.GuestInitrd)
			}
			probe, err := testenv.ResolveAccel(cmd.Context(), accel, o.cacheDir, kernel, initrd)
			if err != nil {
				return err
			}
			bopts.Accel = probe.Accel
			res, err := testenv.Boot(cmd.Context(), bopts)
			if err != nil {
				return err
			}
			return output.Print(cmd.OutOrStdout(), orTable(o.format), bootReport{res, probe})
		},
	}
	f := cmd.Flags()
	f.StringVar(&accel, "accel", "auto", "accelerator: auto, kvm or tcg")
	f.StringVar(&bopts.Firmware, "firmware", "bios", "firmware: bios (SeaBIOS) or efi (OVMF)")
	f.StringVar(&bopts.Bus, "bus", "virtio", "disk bus: virtio, sata, ide or scsi")
	f.IntVar(&bopts.MemoryMiB, "memory", 256, "guest memory in MiB")
	f.BoolVar(&bopts.NIC, "nic", true, "add a virtio NIC on QEMU user networking")
	f.DurationVar(&bopts.Timeout, "timeout", 2*time.Minute, "give up when the guest is not ready by then")
	f.StringVar(&kernel, "kernel", "", "kernel for the KVM smoke boot (default: vmlinuz next to DISK)")
	f.StringVar(&initrd, "initrd", "", "initramfs for the KVM smoke boot (default: initrd.img next to DISK)")
	return cmd
}

type bootReport struct {
	*testenv.BootResult
	Probe *testenv.AccelProbe `json:"accelProbe"`
}

func (b bootReport) Header() []string {
	return []string{"accel", "firmware", "bus", "ready after", "ready line"}
}
func (b bootReport) Rows() [][]string {
	accel := b.Accel
	if b.Probe.Reason != "requested" {
		accel += " (" + b.Probe.Reason
		if b.Probe.Cached {
			accel += ", cached"
		}
		accel += ")"
	}
	return [][]string{{accel, b.Firmware, b.Bus, b.ReadyAfter.Round(time.Millisecond).String(), b.ReadyLine}}
}

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
			st, err := testenv.EnsureLibvirt(ctx, uri)
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

type libvirtTable struct{ *testenv.LibvirtStatus }

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

func orTable(f output.Format) output.Format {
	if f == output.Auto {
		return output.Table
	}
	return f
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
