package runrecord

import (
	"strconv"
	"strings"
)

// upgrade lifts the facts that journals written before the typed fields
// kept in Attrs into those fields, so older run directories still resume
// and report. Events that have the fields are left alone.
func upgrade(e *Event) {
	a := e.Attrs
	if len(a) == 0 {
		return
	}
	take := func(k string) string {
		v := a[k]
		delete(a, k)
		return v
	}
	list := func(k string) []string {
		v := take(k)
		if v == "" {
			return nil
		}
		return strings.Split(v, "; ")
	}
	switch e.Phase {
	case PhaseTransfer:
		if e.Transfer != nil || a["source"] == "" {
			break
		}
		t := &Transfer{Source: take("source"), Target: take("target"), SourceFormat: take("sourceFormat"), Checksum: take("checksum")}
		t.VirtualBytes, _ = strconv.ParseInt(take("virtualBytes"), 10, 64)
		t.WrittenBytes, _ = strconv.ParseInt(take("writtenBytes"), 10, 64)
		if r := a["guestConversion"]; r != "" {
			g := &GuestConversion{Result: take("guestConversion"), Reason: take("guestConversionReason"), Accel: take("guestConversionAccel"),
				Log: take("guestConversionLog"), Inspected: take("guestInspected"), Removed: list("guestRemoved"),
				InitramfsModules: list("guestInitramfsModules"), FirstBoot: list("guestFirstBoot"), Warnings: list("guestWarnings"),
				Commands: list("guestCommands")}
			g.Seconds, _ = strconv.ParseFloat(take("guestConversionSeconds"), 64)
			t.Guest = g
		}
		e.Transfer = t
	case PhasePackage:
		if e.Package != nil || a["digest"] == "" {
			break
		}
		p := &Package{Ref: take("ref"), Digest: take("digest"), Spec: take("spec")}
		if c := take("checksums"); c != "" {
			p.Checksums = strings.Split(c, ",")
		}
		e.Package = p
	case PhaseBoot, PhaseReady:
		if e.Accel == "" {
			e.Accel = take("accel")
		}
	}
	if len(a) == 0 {
		e.Attrs = nil
	}
}
