package runtime

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"libvirt.org/go/libvirt"
)

// TestDiagnoseConsole runs the pattern table over console captures. The
// files in testdata/console are real serial consoles of this host's
// SeaBIOS, OVMF and Debian 12 cloud kernel; the inline samples are the
// messages of loaders and initramfs generators this host does not run
// (shim, GRUB under lockdown, dracut), in the form they print them.
func TestDiagnoseConsole(t *testing.T) {
	file := func(name string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join("testdata", "console", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for _, c := range []struct {
		name, text, cause, evidence string
	}{
		{"seabios blank disk", file("seabios-blank-disk.txt"), CauseNoBootDevice, "Boot failed: not a bootable disk"},
		{"ovmf blank disk falls back to the shell", file("ovmf-blank-disk.txt"), CauseNoBootDevice, `BdsDxe: starting Boot0002 "EFI Internal Shell"`},
		{"ovmf secure boot", file("ovmf-secure-boot.txt"), CauseSecureBoot, "Access Denied"},
		{"kernel without its root device", file("kernel-no-root-device.txt"), CauseRootDevice, `VFS: Cannot open root device "vda1"`},
		{"kernel panic", file("kernel-panic-init-exited.txt"), CauseKernelPanic, "Kernel panic - not syncing: Attempted to kill init!"},
		{"initramfs-tools gives up", file("debian-initramfs-no-root.txt"), CauseRootDevice, "Gave up waiting for root file system device"},
		{"ovmf without a shell", "BdsDxe: failed to load Boot0001 \"UEFI QEMU HARDDISK QM00001 \" from PciRoot(0x0)/Pci(0x1F,0x2)/Sata(0x0,0xFFFF,0x0): Not Found\r\n\r\n>>Start PXE over IPv4.\r\n  PXE-E16: No valid offer received.\r\nBdsDxe: No bootable option or device was found.\r\nBdsDxe: Press any key to enter the Boot Manager Menu.\r\n",
			CauseNoBootDevice, "BdsDxe: No bootable option or device was found."},
		{"seabios gives up", "Booting from Floppy...\r\nBoot failed: could not read the floppy\r\n\r\nNo bootable device.  Retrying in 60 seconds.", CauseNoBootDevice, "No bootable device.  Retrying in 60 seconds."},
		{"shim", "Verification failed: (0x1A) Security Violation\r\nFailed to load image: Security Violation\r\nstart_image() returned Security Violation\r\n", CauseSecureBoot, "Verification failed: (0x1A) Security Violation"},
		{"grub lockdown", "error: bad shim signature.\r\nerror: you need to load the kernel first.\r\n", CauseSecureBoot, "error: bad shim signature."},
		{"dracut", "[  OK  ] Reached target Basic System.\r\n[  185.2] dracut-initqueue[215]: Warning: dracut-initqueue: timeout, still waiting for following initqueue hooks:\r\n[  185.4] dracut-initqueue[215]: Warning: /dev/mapper/rhel-root does not exist\r\n",
			CauseRootDevice, "dracut-initqueue[215]: Warning: /dev/mapper/rhel-root does not exist"},
		{"a guest that boots", "[    2.1] Run /init as init process\r\nPODVM-READY uptime=2.3 ip=10.0.2.15\r\n", "", ""},
		{"an unrelated access denied", "sshd[400]: Access denied for user root\r\n", "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := DiagnoseConsole(c.text)
			if c.cause == "" {
				if got != nil {
					t.Fatalf("diagnosed %+v in a console without a failure", got)
				}
				return
			}
			if got == nil {
				t.Fatalf("no diagnosis, want %q", c.cause)
			}
			if got.Cause != c.cause || !strings.Contains(got.Evidence, c.evidence) || got.Hint == "" {
				t.Errorf("diagnosis %+v, want cause %q with evidence %q", got, c.cause, c.evidence)
			}
			// The same text arriving in small pieces, as the console is
			// read while the guest writes it, gives the same answer.
			var w consoleWatch
			for i := 0; i < len(c.text); i += 7 {
				w.feed([]byte(c.text[i:min(i+7, len(c.text))]))
			}
			if w.failure == nil || w.failure.Cause != c.cause {
				t.Errorf("read in pieces: %+v, want %q", w.failure, c.cause)
			}
		})
	}
}

func TestBootFailureError(t *testing.T) {
	b := DiagnoseConsole("[    1.7] Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)\n")
	if b == nil || b.Cause != CauseRootDevice {
		t.Fatalf("a panic over the root file system: %+v, want the root device cause", b)
	}
	msg := b.Error()
	for _, want := range []string{"boot failed", CauseRootDevice, "guest conversion is needed", "--guest-conversion always", "unknown-block(0,0)"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q lacks %q", msg, want)
		}
	}
	if !errors.Is(b, ErrBootFailed) {
		t.Error("errors.Is(BootFailure, ErrBootFailed) is false")
	}
}

func TestStateFailure(t *testing.T) {
	for _, c := range []struct {
		st     libvirt.DomainState
		reason int
		cause  string
	}{
		{libvirt.DOMAIN_RUNNING, int(libvirt.DOMAIN_RUNNING_BOOTED), ""},
		{libvirt.DOMAIN_SHUTOFF, int(libvirt.DOMAIN_SHUTOFF_SHUTDOWN), CausePoweredOff},
		{libvirt.DOMAIN_SHUTOFF, int(libvirt.DOMAIN_SHUTOFF_CRASHED), CauseCrashed},
		{libvirt.DOMAIN_SHUTOFF, int(libvirt.DOMAIN_SHUTOFF_DESTROYED), CauseStopped},
		{libvirt.DOMAIN_CRASHED, int(libvirt.DOMAIN_CRASHED_PANICKED), CauseCrashed},
	} {
		got := stateFailure(c.st, c.reason)
		switch {
		case c.cause == "" && got != nil:
			t.Errorf("state %d/%d: %+v, want none", c.st, c.reason, got)
		case c.cause != "" && (got == nil || got.Cause != c.cause):
			t.Errorf("state %d/%d: %+v, want %q", c.st, c.reason, got, c.cause)
		}
	}
}

// TestConsoleWatchLastLine: a timeout or a stopped domain quotes the
// console's last words, without the firmware's terminal escapes.
func TestConsoleWatchLastLine(t *testing.T) {
	var w consoleWatch
	w.feed([]byte("\x1b[2J\x1b[01;01HBdsDxe: loading Boot0001\r\n\r\n"))
	if got := w.lastLine(); got != "BdsDxe: loading Boot0001" {
		t.Errorf("last line %q", got)
	}
	w.feed([]byte("Begin: Waiting for root file system ... "))
	if got := w.lastLine(); got != "Begin: Waiting for root file system ..." {
		t.Errorf("unfinished last line %q", got)
	}
	if w.failure != nil {
		t.Errorf("diagnosed %+v from a healthy console", w.failure)
	}
}
