package guest

import (
	"fmt"

	"github.com/podvm-migrate/podvm-migrate/podvm"
)

// Modes of --guest-conversion.
const (
	ModeAuto   = "auto"   // Linux guests the plan runs with virtio
	ModeAlways = "always" // every guest virt-v2v can convert (never Windows)
	ModeNever  = "never"
)

// ParseMode checks a --guest-conversion value; empty means auto.
func ParseMode(s string) (string, error) {
	switch s {
	case "":
		return ModeAuto, nil
	case ModeAuto, ModeAlways, ModeNever:
		return s, nil
	}
	return "", fmt.Errorf("guest conversion %q: want auto, always or never", s)
}

// Decision is whether a guest is converted and why.
type Decision struct {
	Convert bool   `json:"convert"`
	Reason  string `json:"reason"`
}

// Decide applies mode to the guest a spec describes (nil: unknown guest).
// auto converts Linux guests that the plan gives virtio devices; always
// converts anything but Windows; Windows is never converted, because no
// virtio-win drivers are available offline and the plan already keeps it
// on SATA and e1000e.
func Decide(mode string, spec *podvm.Spec) Decision {
	family, virtio := "", false
	if spec != nil {
		family, virtio = spec.Guest.Family, spec.Mode == podvm.ModeVirtio
	}
	switch {
	case mode == ModeNever:
		return Decision{Reason: "guest conversion is off (--guest-conversion=never)"}
	case family == "windows":
		return Decision{Reason: "Windows guest: no virtio-win drivers offline; it keeps the compatibility mode (SATA disk, e1000e NIC) the plan gave it"}
	case mode == ModeAlways:
		return Decision{Convert: true, Reason: "--guest-conversion=always"}
	case family == "":
		return Decision{Reason: "the guest OS is unknown (the source does not say; for convert disk: --guest-family linux); use --guest-conversion=always to convert anyway"}
	case family != "linux":
		return Decision{Reason: fmt.Sprintf("guest family %q is not linux; use --guest-conversion=always to convert anyway", family)}
	case !virtio:
		return Decision{Reason: "the plan runs this Linux guest in compatibility mode (SATA, e1000e): it boots without virtio drivers"}
	}
	return Decision{Convert: true, Reason: "Linux guest planned with virtio devices"}
}
