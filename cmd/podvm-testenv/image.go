package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/podvm-migrate/podvm-migrate/internal/output"
	"github.com/podvm-migrate/podvm-migrate/testenv/testguest"
	"github.com/spf13/cobra"
)

func init() { register(newImageCommand) }

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
			hw := testguest.DefaultHardware(firmware)
			hw.Controller = controller
			hw.SecureBoot = secureBoot
			g, err := testguest.Build(cmd.Context(), testguest.Options{
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

type guestTable struct{ *testguest.Guest }

func (g guestTable) Header() []string { return []string{"file", "size", "holds"} }
func (g guestTable) Rows() [][]string {
	var rows [][]string
	for _, f := range g.Files {
		size := "?"
		if st, err := os.Stat(g.Path(f)); err == nil {
			size = output.Bytes(st.Size())
		}
		rows = append(rows, []string{g.Path(f), size, g.holds(f)})
	}
	return rows
}

// holds says what one artefact is, with the kernel or firmware where it
// concerns that file.
func (g guestTable) holds(f string) string {
	switch ext := filepath.Ext(f); {
	case f == "vmlinuz":
		return "kernel " + g.Kernel
	case f == "initrd.img":
		return "initramfs (busybox)"
	case ext == ".raw" || ext == ".vmdk":
		return "disk (boots under BIOS and UEFI)"
	case ext == ".vmx" || ext == ".ovf" || ext == ".ova":
		return "VM, firmware " + g.Firmware
	case ext == ".mf":
		return "SHA256 manifest of the OVF package"
	}
	return ""
}
