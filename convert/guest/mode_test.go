package guest

import (
	"strings"
	"testing"

	"github.com/podvm-migrate/podvm-migrate/podvm"
)

func TestParseMode(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		bad      bool
	}{
		{"", ModeAuto, false},
		{"auto", ModeAuto, false},
		{"always", ModeAlways, false},
		{"never", ModeNever, false},
		{"sometimes", "", true},
	} {
		got, err := ParseMode(tc.in)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("ParseMode(%q) = %q, %v", tc.in, got, err)
		}
	}
}

func TestDecide(t *testing.T) {
	spec := func(family, mode string) *podvm.Spec {
		return &podvm.Spec{Mode: mode, Guest: podvm.Guest{Family: family}}
	}
	for _, tc := range []struct {
		name    string
		mode    string
		spec    *podvm.Spec
		convert bool
		reason  string
	}{
		{"linux virtio auto", ModeAuto, spec("linux", podvm.ModeVirtio), true, "virtio"},
		{"linux compat auto", ModeAuto, spec("linux", podvm.ModeCompat), false, "compatibility mode"},
		{"linux never", ModeNever, spec("linux", podvm.ModeVirtio), false, "off"},
		{"unknown auto", ModeAuto, nil, false, "the guest OS is unknown"},
		{"no family auto", ModeAuto, spec("", podvm.ModeVirtio), false, "--guest-family linux"},
		{"other auto", ModeAuto, spec("other", podvm.ModeVirtio), false, `guest family "other" is not linux`},
		{"other always", ModeAlways, spec("other", podvm.ModeVirtio), true, "always"},
		{"windows auto", ModeAuto, spec("windows", podvm.ModeCompat), false, "virtio-win"},
		{"windows always", ModeAlways, spec("windows", podvm.ModeVirtio), false, "virtio-win"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Decide(tc.mode, tc.spec)
			if d.Convert != tc.convert || !strings.Contains(d.Reason, tc.reason) {
				t.Errorf("Decide = %+v, want convert=%v and a reason mentioning %q", d, tc.convert, tc.reason)
			}
		})
	}
}
