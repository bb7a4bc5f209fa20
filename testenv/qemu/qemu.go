// Package qemu boots disks and kernels under bare qemu-system-x86_64 for
// the tests and the demo, and waits for the test guest's readiness line on
// the serial console; QEMU never outlives a boot. ResolveAccel decides
// between KVM and TCG with a short KVM smoke boot, since an openable
// /dev/kvm proves nothing on nested hosts, and caches the verdict per host
// kernel.
//
// The host needs qemu-system-x86 (and ovmf for UEFI boots); make deps
// installs both. Without a working KVM everything runs under TCG.
package qemu

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/podvm-migrate/podvm-migrate/internal/host"
	"github.com/podvm-migrate/podvm-migrate/testenv/internal/cmdrun"
	"github.com/podvm-migrate/podvm-migrate/testenv/internal/diskimg"
	"github.com/podvm-migrate/podvm-migrate/testenv/testguest"
)

// Accelerators QEMU can run the guest with.
const (
	AccelKVM = host.AccelKVM
	AccelTCG = host.AccelTCG
)

// OVMF firmware files from Debian's ovmf package.
const (
	OVMFCode = "/usr/share/OVMF/OVMF_CODE.fd"
	OVMFVars = "/usr/share/OVMF/OVMF_VARS.fd"
)

// BootOptions describes one boot of a disk under bare qemu-system-x86_64.
type BootOptions struct {
	Disk      string        // disk image to boot (opened with -snapshot: never modified)
	Format    string        // raw | vmdk | qcow2; default guessed from the file name
	Firmware  string        // bios (SeaBIOS, default) | efi (OVMF)
	Accel     string        // kvm | tcg (resolve auto with ResolveAccel first)
	Bus       string        // virtio (default) | ide | sata | scsi
	MemoryMiB int           // default 256
	Kernel    string        // direct kernel boot: kernel image (Disk may then be empty)
	Initrd    string        // direct kernel boot: initramfs
	Append    string        // direct kernel boot: command line
	NIC       bool          // add a virtio NIC on user-mode networking
	Timeout   time.Duration // until the readiness line; default 2 minutes
	// WaitPowerOff waits for the guest to power itself off after readiness
	// instead of stopping QEMU.
	WaitPowerOff bool
	Serial       io.Writer // optional copy of everything on the serial console
}

// BootResult is what one boot showed.
type BootResult struct {
	Accel      string        `json:"accel"`
	Firmware   string        `json:"firmware"`
	Bus        string        `json:"bus"`
	ReadyAfter time.Duration `json:"readyAfterNs"` // from QEMU start to the readiness line
	ReadyLine  string        `json:"readyLine"`
	PoweredOff bool          `json:"poweredOff"` // the guest powered itself off
}

// ErrNotReady is returned when the guest did not print its readiness line.
var ErrNotReady = errors.New("guest did not print its readiness line")

// Boot starts QEMU, waits for the guest's readiness line on the serial
// console and then stops QEMU (or waits for the guest to power off). QEMU
// never outlives the call.
func Boot(ctx context.Context, o BootOptions) (*BootResult, error) {
	args, cleanup, err := qemuArgs(o)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	timeout := o.Timeout
	if timeout == 0 {
		timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	cmd := exec.Command("qemu-system-x86_64", args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("qemu: %w", err)
	}
	var stderr strings.Builder
	cmd.Stderr = &lockedWriter{w: &stderr}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("qemu: start qemu-system-x86_64: %w (install qemu-system-x86)", err)
	}
	exited := make(chan error, 1)
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if o.Serial != nil {
				fmt.Fprintln(o.Serial, line)
			}
			if i := strings.Index(line, testguest.ReadyPrefix); i >= 0 {
				select {
				case ready <- strings.TrimSpace(line[i:]):
				default:
				}
			}
		}
		exited <- cmd.Wait()
	}()
	kill := func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}
	res := &BootResult{Accel: o.Accel, Firmware: o.Firmware, Bus: o.Bus}
	select {
	case line := <-ready:
		res.ReadyAfter = time.Since(start)
		res.ReadyLine = line
	case err := <-exited:
		return nil, fmt.Errorf("qemu exited before the guest was ready (%v): %s: %w", err, cmdrun.LastLine([]byte(stderr.String())), ErrNotReady)
	case <-ctx.Done():
		kill()
		return nil, fmt.Errorf("boot %s with %s: no %s line within %s: %w", o.what(), o.Accel, testguest.ReadyPrefix, timeout, ErrNotReady)
	}
	if !o.WaitPowerOff {
		kill()
		return res, nil
	}
	select {
	case <-exited:
		res.PoweredOff = true
	case <-ctx.Done():
		kill()
		return res, fmt.Errorf("boot %s: guest was ready but did not power off within %s", o.what(), timeout)
	}
	return res, nil
}

func qemuArgs(o BootOptions) ([]string, func(), error) {
	noop := func() {}
	if o.Accel != AccelKVM && o.Accel != AccelTCG {
		return nil, noop, fmt.Errorf("qemu: accelerator %q: want kvm or tcg", o.Accel)
	}
	if o.Firmware == "" {
		o.Firmware = "bios"
	}
	mem := o.MemoryMiB
	if mem == 0 {
		mem = 256
	}
	args := []string{"-nodefaults", "-display", "none", "-no-reboot", "-snapshot",
		"-machine", "q35", "-accel", o.Accel, "-m", fmt.Sprint(mem), "-smp", "1",
		"-serial", "stdio"}
	cleanup := noop
	switch o.Firmware {
	case "bios":
	case "efi":
		vars, err := os.CreateTemp("", "podvm-ovmf-vars-*.fd")
		if err != nil {
			return nil, noop, fmt.Errorf("qemu: %w", err)
		}
		vars.Close()
		cleanup = func() { os.Remove(vars.Name()) }
		if err := diskimg.CopyFile(vars.Name(), OVMFVars); err != nil {
			cleanup()
			return nil, noop, fmt.Errorf("qemu: OVMF variables: %w (install ovmf)", err)
		}
		args = append(args,
			"-drive", "if=pflash,format=raw,readonly=on,file="+OVMFCode,
			"-drive", "if=pflash,format=raw,file="+vars.Name())
	default:
		return nil, noop, fmt.Errorf("qemu: firmware %q: want bios or efi", o.Firmware)
	}
	if o.Disk != "" {
		format := o.Format
		if format == "" {
			format = formatFromName(o.Disk)
		}
		drive := "file=" + o.Disk + ",format=" + format + ",if=none,id=disk0"
		switch o.Bus {
		case "", "virtio":
			args = append(args, "-drive", drive, "-device", "virtio-blk-pci,drive=disk0,bootindex=1")
		case "ide", "sata":
			// q35's built-in AHCI controller: IDE and SATA both become AHCI here.
			args = append(args, "-drive", drive, "-device", "ide-hd,drive=disk0,bus=ide.0,bootindex=1")
		case "scsi":
			args = append(args, "-drive", drive, "-device", "virtio-scsi-pci,id=scsi0", "-device", "scsi-hd,drive=disk0,bus=scsi0.0,bootindex=1")
		default:
			return nil, cleanup, fmt.Errorf("qemu: disk bus %q: want virtio, ide, sata or scsi", o.Bus)
		}
	}
	if o.Kernel != "" {
		args = append(args, "-kernel", o.Kernel, "-append", o.Append)
		if o.Initrd != "" {
			args = append(args, "-initrd", o.Initrd)
		}
	}
	if o.NIC {
		args = append(args, "-netdev", "user,id=net0", "-device", "virtio-net-pci,netdev=net0")
	}
	return args, cleanup, nil
}

// what names the thing being booted, for errors.
func (o BootOptions) what() string {
	if o.Disk != "" {
		return o.Disk
	}
	return "kernel " + o.Kernel
}

func formatFromName(name string) string {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".vmdk":
		return "vmdk"
	case ".qcow2":
		return "qcow2"
	default:
		return "raw"
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
