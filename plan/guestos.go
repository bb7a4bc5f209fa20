package plan

import (
	"strings"

	"github.com/podvm-migrate/podvm-migrate/podvm"

	"github.com/podvm-migrate/podvm-migrate/discover"
)

// Support levels of a guest operating system on KVM.
const (
	SupportFull        = "supported"   // boots on virtio; guest conversion handles the rest
	SupportCompat      = "compat"      // boots in compatibility mode (SATA, e1000e) until virtio drivers are added
	SupportUnsupported = "unsupported" // no known way to boot it on KVM/KubeVirt
	SupportUnknown     = "unknown"     // not in the table: treat with care
)

// GuestOS is what planning knows about one vSphere guest id.
type GuestOS struct {
	Family  string // linux | windows | other
	Support string // one of the Support* levels
	Mode    string // ModeVirtio | ModeCompat: the device set to start with
}

// guestOSPrefixes maps vSphere guestId prefixes to what KVM makes of them.
// Longer prefixes win. Linux distributions have had virtio drivers in the
// kernel for over a decade; the oldest ones and non-Linux systems do not.
// Windows has no virtio drivers in the box, so it starts in compat mode.
var guestOSPrefixes = []struct {
	prefix string
	os     GuestOS
}{
	// Linux: in-kernel virtio since 2.6.25.
	{"rhel", GuestOS{"linux", SupportFull, podvm.ModeVirtio}},
	{"rhel2", GuestOS{"linux", SupportUnsupported, podvm.ModeCompat}},
	{"rhel3", GuestOS{"linux", SupportUnsupported, podvm.ModeCompat}},
	{"rhel4", GuestOS{"linux", SupportCompat, podvm.ModeCompat}},
	{"centos", GuestOS{"linux", SupportFull, podvm.ModeVirtio}},
	{"oracleLinux", GuestOS{"linux", SupportFull, podvm.ModeVirtio}},
	{"rockylinux", GuestOS{"linux", SupportFull, podvm.ModeVirtio}},
	{"almalinux", GuestOS{"linux", SupportFull, podvm.ModeVirtio}},
	{"fedora", GuestOS{"linux", SupportFull, podvm.ModeVirtio}},
	{"debian", GuestOS{"linux", SupportFull, podvm.ModeVirtio}},
	{"debian4", GuestOS{"linux", SupportCompat, podvm.ModeCompat}},
	{"debian5", GuestOS{"linux", SupportCompat, podvm.ModeCompat}},
	{"ubuntu", GuestOS{"linux", SupportFull, podvm.ModeVirtio}},
	{"sles", GuestOS{"linux", SupportFull, podvm.ModeVirtio}},
	{"sles10", GuestOS{"linux", SupportCompat, podvm.ModeCompat}},
	{"opensuse", GuestOS{"linux", SupportFull, podvm.ModeVirtio}},
	{"amazonlinux", GuestOS{"linux", SupportFull, podvm.ModeVirtio}},
	{"coreos", GuestOS{"linux", SupportFull, podvm.ModeVirtio}},
	{"photon", GuestOS{"linux", SupportFull, podvm.ModeVirtio}},
	{"asianux", GuestOS{"linux", SupportFull, podvm.ModeVirtio}},
	{"mandriva", GuestOS{"linux", SupportFull, podvm.ModeVirtio}},
	{"vmwarePhoton", GuestOS{"linux", SupportFull, podvm.ModeVirtio}},
	{"other6xLinux", GuestOS{"linux", SupportFull, podvm.ModeVirtio}},
	{"other5xLinux", GuestOS{"linux", SupportFull, podvm.ModeVirtio}},
	{"other4xLinux", GuestOS{"linux", SupportFull, podvm.ModeVirtio}},
	{"other3xLinux", GuestOS{"linux", SupportFull, podvm.ModeVirtio}},
	{"other26xLinux", GuestOS{"linux", SupportFull, podvm.ModeVirtio}},
	{"other24xLinux", GuestOS{"linux", SupportCompat, podvm.ModeCompat}},
	{"otherLinux", GuestOS{"linux", SupportCompat, podvm.ModeCompat}},
	{"genericLinux", GuestOS{"linux", SupportCompat, podvm.ModeCompat}},
	// Windows: supported by KVM and KubeVirt, but virtio drivers come later.
	{"windows", GuestOS{"windows", SupportCompat, podvm.ModeCompat}},
	{"win", GuestOS{"windows", SupportCompat, podvm.ModeCompat}},
	{"win95", GuestOS{"windows", SupportUnsupported, podvm.ModeCompat}},
	{"win98", GuestOS{"windows", SupportUnsupported, podvm.ModeCompat}},
	{"win31", GuestOS{"windows", SupportUnsupported, podvm.ModeCompat}},
	{"winMe", GuestOS{"windows", SupportUnsupported, podvm.ModeCompat}},
	{"winNT", GuestOS{"windows", SupportUnsupported, podvm.ModeCompat}},
	{"win2000", GuestOS{"windows", SupportUnsupported, podvm.ModeCompat}},
	// Others.
	{"freebsd", GuestOS{"other", SupportFull, podvm.ModeVirtio}},
	{"solaris", GuestOS{"other", SupportUnsupported, podvm.ModeCompat}},
	{"darwin", GuestOS{"other", SupportUnsupported, podvm.ModeCompat}},
	{"netware", GuestOS{"other", SupportUnsupported, podvm.ModeCompat}},
	{"os2", GuestOS{"other", SupportUnsupported, podvm.ModeCompat}},
	{"dos", GuestOS{"other", SupportUnsupported, podvm.ModeCompat}},
	{"vmkernel", GuestOS{"other", SupportUnsupported, podvm.ModeCompat}},
	{"eComStation", GuestOS{"other", SupportUnsupported, podvm.ModeCompat}},
	{"unixWare", GuestOS{"other", SupportUnsupported, podvm.ModeCompat}},
	{"openServer", GuestOS{"other", SupportUnsupported, podvm.ModeCompat}},
}

// LookupGuestOS returns what is known of a vSphere guest id (e.g.
// "rhel9_64Guest", "windows2019srv_64Guest"), matching the longest known
// prefix. An unknown id gets SupportUnknown and compat mode, the safe start.
func LookupGuestOS(guestID string) GuestOS {
	best, bestLen := GuestOS{Family: familyGuess(guestID), Support: SupportUnknown, Mode: podvm.ModeCompat}, 0
	for _, p := range guestOSPrefixes {
		if len(p.prefix) > bestLen && strings.HasPrefix(strings.ToLower(guestID), strings.ToLower(p.prefix)) {
			best, bestLen = p.os, len(p.prefix)
		}
	}
	return best
}

// familyGuess names the family of a guest id the table does not know, the
// way discovery does.
func familyGuess(guestID string) string {
	switch discover.GuestFamily(guestID) {
	case "linuxGuest":
		return "linux"
	case "windowsGuest":
		return "windows"
	}
	return "other"
}
