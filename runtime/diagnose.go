package runtime

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"

	"libvirt.org/go/libvirt"
)

// Causes of a boot that cannot succeed, as BootFailure.Cause names them.
const (
	CauseSecureBoot   = "secure boot refused the boot loader"
	CauseNoBootDevice = "no bootable device"
	CauseRootDevice   = "the kernel cannot find its root device"
	CauseKernelPanic  = "kernel panic"
	CausePoweredOff   = "the guest powered off"
	CauseCrashed      = "the guest crashed"
	CauseStopped      = "the guest stopped"
)

// BootFailure is a boot that cannot succeed, recognised from the serial
// console or the domain's state while the runtime waits for readiness.
// errors.Is(err, ErrBootFailed) holds for it.
type BootFailure struct {
	Cause    string `json:"cause"`              // one of the Cause constants
	Evidence string `json:"evidence,omitempty"` // the console line or domain state that shows it
	Hint     string `json:"hint,omitempty"`     // what to do about it
}

// Error names the cause, the evidence and the remedy.
func (b *BootFailure) Error() string {
	s := "boot failed: " + b.Cause
	if b.Evidence != "" {
		s += fmt.Sprintf(" (%q)", b.Evidence)
	}
	if b.Hint != "" {
		s += ": " + b.Hint
	}
	return s
}

// Unwrap makes errors.Is(err, ErrBootFailed) hold.
func (b *BootFailure) Unwrap() error { return ErrBootFailed }

// bootPattern is one recognisable console message: a line matching re
// means the boot has failed for cause.
type bootPattern struct {
	cause string
	re    *regexp.Regexp
	hint  string
}

// bootPatterns are checked against each console line in order, so a line
// that matches two (a panic because the root file system is missing) gets
// the more specific cause.
var bootPatterns = []bootPattern{
	{
		CauseSecureBoot,
		// OVMF's boot manager ("BdsDxe: failed to load Boot0001 ...: Access
		// Denied"), shim ("Verification failed: (0x1A) Security
		// Violation"), GRUB under lockdown.
		regexp.MustCompile(`(?i)failed to load .*: Access Denied|Security Violation|bad shim signature|prohibited by secure boot policy`),
		"the boot loader is not signed with a key the firmware trusts (Microsoft's): give the guest a signed loader (shim), or run it without secure boot (firmware.secureBoot: false in its spec)",
	},
	{
		CauseRootDevice,
		// initramfs-tools ("Gave up waiting for root file system device",
		// "ALERT!  UUID=... does not exist.  Dropping to a shell!"), the
		// kernel without an initramfs ("VFS: Cannot open root device",
		// "VFS: Unable to mount root fs"), dracut ("Warning: /dev/... does
		// not exist", "Warning: Could not boot.").
		regexp.MustCompile(`Gave up waiting for root|ALERT! .* does not exist|VFS: Unable to mount root fs|VFS: Cannot open root device|Warning: /dev/\S+ does not exist|Warning: Could not boot`),
		"its initramfs lacks the drivers for the new disk bus (virtio): guest conversion is needed (migrate with --guest-conversion always), or run it in compatibility mode (SATA)",
	},
	{
		CauseNoBootDevice,
		// OVMF ("BdsDxe: No bootable option or device was found.", or
		// its build with a shell falling back to it: "BdsDxe: starting
		// Boot0002 "EFI Internal Shell""), SeaBIOS ("No bootable device.",
		// "Boot failed: not a bootable disk"). A pod VM boots from its
		// disks only, so the first disk failing is final.
		regexp.MustCompile(`No bootable option or device was found|No bootable device|Boot failed: (not a bootable disk|could not read the boot disk)|starting Boot\w+ "EFI Internal Shell"`),
		"the firmware found nothing to boot on the disks: check that the boot disk is first and was copied whole, and that the firmware (bios or efi) is the source VM's",
	},
	{
		CauseKernelPanic,
		regexp.MustCompile(`Kernel panic - not syncing`),
		"see 'podvm-migrate logs' for the lines before it",
	},
}

// DiagnoseConsole returns the boot failure the first recognisable line of
// console text shows, or nil.
func DiagnoseConsole(text string) *BootFailure {
	for _, line := range strings.Split(text, "\n") {
		if f := diagnoseLine(line); f != nil {
			return f
		}
	}
	return nil
}

// ansiEscape matches the terminal control sequences firmware writes around
// its messages.
var ansiEscape = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\x1b[=>c]`)

// diagnoseLine checks one console line against bootPatterns.
func diagnoseLine(line string) *BootFailure {
	line = strings.TrimSpace(ansiEscape.ReplaceAllString(strings.ReplaceAll(line, "\r", ""), ""))
	if line == "" {
		return nil
	}
	for _, p := range bootPatterns {
		if p.re.MatchString(line) {
			return &BootFailure{Cause: p.cause, Evidence: clip(line, 200), Hint: p.hint}
		}
	}
	return nil
}

// clip shortens s to n bytes.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// consoleWatch reads the serial console as it grows, line by line, for a
// boot failure; it keeps the last line for error messages.
type consoleWatch struct {
	partial []byte // an unfinished last line
	last    string // the last non-empty line
	failure *BootFailure
}

// feed takes newly read console bytes and returns the first boot failure
// seen so far. An unfinished line is checked too (SeaBIOS ends its last
// message without a newline), and checked again when it is finished.
func (w *consoleWatch) feed(b []byte) *BootFailure {
	if w.failure != nil || len(b) == 0 {
		return w.failure
	}
	w.partial = append(w.partial, b...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		w.line(string(w.partial[:i]))
		w.partial = w.partial[i+1:]
		if w.failure != nil {
			return w.failure
		}
	}
	if len(w.partial) > 4<<10 {
		w.line(string(w.partial))
		w.partial = nil
	} else if len(w.partial) > 0 {
		w.failure = diagnoseLine(string(w.partial))
	}
	return w.failure
}

func (w *consoleWatch) line(s string) {
	if t := strings.TrimSpace(ansiEscape.ReplaceAllString(strings.ReplaceAll(s, "\r", ""), "")); t != "" {
		w.last = clip(t, 200)
	}
	if w.failure == nil {
		w.failure = diagnoseLine(s)
	}
}

// lastLine is the console's last non-empty line, finished or not.
func (w *consoleWatch) lastLine() string {
	if t := strings.TrimSpace(ansiEscape.ReplaceAllString(strings.ReplaceAll(string(w.partial), "\r", ""), "")); t != "" {
		return clip(t, 200)
	}
	return w.last
}

// stateFailure says why a domain in state st (with libvirt's reason) can
// no longer become ready; nil while it runs (or is paused, which the
// caller handles).
func stateFailure(st libvirt.DomainState, reason int) *BootFailure {
	switch st {
	case libvirt.DOMAIN_SHUTOFF:
		switch libvirt.DomainShutoffReason(reason) {
		case libvirt.DOMAIN_SHUTOFF_SHUTDOWN:
			return &BootFailure{Cause: CausePoweredOff, Evidence: "domain shut off: the guest shut down",
				Hint: "the guest powered itself off before it was ready; see 'podvm-migrate logs'"}
		case libvirt.DOMAIN_SHUTOFF_CRASHED:
			return &BootFailure{Cause: CauseCrashed, Evidence: "domain shut off: crashed", Hint: "QEMU or the guest crashed; see 'podvm-migrate logs' and the QEMU log"}
		case libvirt.DOMAIN_SHUTOFF_FAILED:
			return &BootFailure{Cause: CauseCrashed, Evidence: "domain shut off: failed", Hint: "QEMU failed; see the QEMU log"}
		case libvirt.DOMAIN_SHUTOFF_DESTROYED:
			return &BootFailure{Cause: CauseStopped, Evidence: "domain shut off: destroyed", Hint: "something stopped it from outside (podvm-migrate stop, virsh destroy)"}
		}
		return &BootFailure{Cause: CauseStopped, Evidence: "domain shut off", Hint: "see 'podvm-migrate logs'"}
	case libvirt.DOMAIN_CRASHED:
		ev := "domain crashed"
		if libvirt.DomainCrashedReason(reason) == libvirt.DOMAIN_CRASHED_PANICKED {
			ev = "domain crashed: the guest panicked"
		}
		return &BootFailure{Cause: CauseCrashed, Evidence: ev, Hint: "see 'podvm-migrate logs'"}
	}
	return nil
}
