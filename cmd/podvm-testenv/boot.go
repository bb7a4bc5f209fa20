package main

import (
	"path/filepath"
	"time"

	"github.com/podvm-migrate/podvm-migrate/internal/output"
	"github.com/podvm-migrate/podvm-migrate/testenv/qemu"
	"github.com/podvm-migrate/podvm-migrate/testenv/testguest"
	"github.com/spf13/cobra"
)

func init() { register(newBootCommand) }

func newBootCommand(o *options) *cobra.Command {
	var (
		bopts          qemu.BootOptions
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
				kernel = filepath.Join(dir, testguest.Vmlinuz)
			}
			if initrd == "" {
				initrd = filepath.Join(dir, testguest.Initrd)
			}
			probe, err := qemu.ResolveAccel(cmd.Context(), accel, o.cacheDir, kernel, initrd)
			if err != nil {
				return err
			}
			bopts.Accel = probe.Accel
			res, err := qemu.Boot(cmd.Context(), bopts)
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
	*qemu.BootResult
	Probe *qemu.AccelProbe `json:"accelProbe"`
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
