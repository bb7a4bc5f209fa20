package reports

import (
	"fmt"
	"strings"

	"github.com/podvm-migrate/podvm-migrate/runrecord"
)

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

// guestConversion reads a transfer event's guest conversion.
func guestConversion(e runrecord.Event) (GuestConversion, bool) {
	if e.Transfer == nil || e.Transfer.Guest == nil {
		return GuestConversion{}, false
	}
	g := e.Transfer.Guest
	out := GuestConversion{VM: e.VM, Disk: e.Disk, Result: g.Result, Reason: g.Reason, Accel: g.Accel, Inspected: g.Inspected,
		Removed: strings.Join(g.Removed, "; "), InitramfsModules: strings.Join(g.InitramfsModules, "; "),
		FirstBoot: strings.Join(g.FirstBoot, "; "), Warnings: strings.Join(g.Warnings, "; "), Log: g.Log}
	if g.Result == runrecord.GuestConverted {
		out.Seconds = fmt.Sprintf("%.1f", g.Seconds)
	}
	return out, true
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
