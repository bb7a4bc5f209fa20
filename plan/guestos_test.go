package plan

import (
	"testing"

	"github.com/podvm-migrate/podvm-migrate/podvm"
)

func TestLookupGuestOS(t *testing.T) {
	cases := []struct {
		id                    string
		family, support, mode string
	}{
		{"debian12_64Guest", "linux", SupportFull, podvm.ModeVirtio},
		{"debian5_64Guest", "linux", SupportCompat, podvm.ModeCompat},
		{"rhel9_64Guest", "linux", SupportFull, podvm.ModeVirtio},
		{"rhel3Guest", "linux", SupportUnsupported, podvm.ModeCompat},
		{"ubuntu64Guest", "linux", SupportFull, podvm.ModeVirtio},
		{"other5xLinux64Guest", "linux", SupportFull, podvm.ModeVirtio},
		{"otherLinux64Guest", "linux", SupportCompat, podvm.ModeCompat},
		{"windows2019srv_64Guest", "windows", SupportCompat, podvm.ModeCompat},
		{"windows9_64Guest", "windows", SupportCompat, podvm.ModeCompat},
		{"winNetEnterpriseGuest", "windows", SupportCompat, podvm.ModeCompat},
		{"win2000ServGuest", "windows", SupportUnsupported, podvm.ModeCompat},
		{"solaris11_64Guest", "other", SupportUnsupported, podvm.ModeCompat},
		{"freebsd13_64Guest", "other", SupportFull, podvm.ModeVirtio},
		{"darwin20_64Guest", "other", SupportUnsupported, podvm.ModeCompat},
		{"brandNewLinux64Guest", "linux", SupportUnknown, podvm.ModeCompat},
		{"", "other", SupportUnknown, podvm.ModeCompat},
	}
	for _, c := range cases {
		got := LookupGuestOS(c.id)
		if got.Family != c.family || got.Support != c.support || got.Mode != c.mode {
			t.Errorf("LookupGuestOS(%q) = %+v; want %s/%s/%s", c.id, got, c.family, c.support, c.mode)
		}
	}
}
