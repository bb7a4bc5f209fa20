package reports

import "github.com/podvm-migrate/podvm-migrate/migrate"

// GuestConversion is what guest conversion did to one disk, read from the
// attributes of its transfer event.
type GuestConversion struct {
	VM               string `json:"vm"`
	Disk             string `json:"disk"`
	Result           string `json:"result"` // converted | skipped
	Reason           string `json:"reason,omitempty"`
	Seconds          string `json:"seconds,omitempty"`
	Accel            string `json:"accel,omitempty"`
	Inspected        string `json:"inspected,omitempty"`
	Removed          string `json:"removed,omitempty"`
	InitramfsModules string `json:"initramfsModules,omitempty"`
	FirstBoot        string `json:"firstBoot,omitempty"`
	Warnings         string `json:"warnings,omitempty"`
	Log              string `json:"log,omitempty"`
}

// guestConversion reads a transfer event's guest-conversion attributes.
func guestConversion(e migrate.Event) (GuestConversion, bool) {
	a := e.Attrs
	if a["guestConversion"] == "" {
		return GuestConversion{}, false
	}
	return GuestConversion{VM: e.VM, Disk: e.Disk, Result: a["guestConversion"], Reason: a["guestConversionReason"],
		Seconds: a["guestConversionSeconds"], Accel: a["guestConversionAccel"], Inspected: a["guestInspected"],
		Removed: a["guestRemoved"], InitramfsModules: a["guestInitramfsModules"], FirstBoot: a["guestFirstBoot"],
		Warnings: a["guestWarnings"], Log: a["guestConversionLog"]}, true
}

// GuestConversions lists every disk's guest conversion, VM by VM.
func (r *Report) GuestConversions() []GuestConversion {
	var out []GuestConversion
	for _, v := range r.Performance.VMs {
		out = append(out, v.Guest...)
	}
	return out
}

// Note is the reason a disk was skipped, or the warnings of a conversion.
func (g GuestConversion) Note() string {
	if g.Result == "skipped" {
		return g.Reason
	}
	return g.Warnings
}
