package podvm

import "testing"

func TestLookupGuestOS(t *testing.T) {
	cases := []struct {
		id                    string
		family, support, mode string
	}{
		{"debian12_64Guest", "linux", SupportFull, ModeVirtio},
		{"debian5_64Guest", "linux", SupportCompat, ModeCompat},
		{"rhel9_64Guest", "linux", SupportFull, ModeVirtio},
		{"rhel3Guest", "linux", SupportUnsupported, ModeCompat},
		{"ubuntu64Guest", "linux", SupportFull, ModeVirtio},
		{"other5xLinux64Guest", "linux", SupportFull, ModeVirtio},
		{"otherLinux64Guest", "linux", SupportCompat, ModeCompat},
		{"windows2019srv_64Guest", "windows", SupportCompat, ModeCompat},
		{"windows9_64Guest", "windows", SupportCompat, ModeCompat},
		{"winNetEnterpriseGuest", "windows", SupportCompat, ModeCompat},
		{"win2000ServGuest", "windows", SupportUnsupported, ModeCompat},
		{"solaris11_64Guest", "other", SupportUnsupported, ModeCompat},
		{"freebsd13_64Guest", "other", SupportFull, ModeVirtio},
		{"darwin20_64Guest", "other", SupportUnsupported, ModeCompat},
		{"brandNewLinux64Guest", "linux", SupportUnknown, ModeCompat},
		{"", "other", SupportUnknown, ModeCompat},
	}
	for _, c := range cases {
		got := LookupGuestOS(c.id)
		if got.Family != c.family || got.Support != c.support || got.Mode != c.mode {
			t.Errorf("LookupGuestOS(%q) = %+v; want %s/%s/%s", c.id, got, c.family, c.support, c.mode)
		}
	}
}
