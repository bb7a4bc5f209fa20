package discover

import "strings"

// GuestFamily guesses the guest family (linuxGuest, windowsGuest, …) from a
// vSphere API guest id, for offline sources whose tools never reported it.
func GuestFamily(id string) string {
	l := strings.ToLower(id)
	switch {
	case strings.HasPrefix(l, "win"):
		return "windowsGuest"
	case strings.HasPrefix(l, "darwin"):
		return "darwinGuestFamily"
	case strings.HasPrefix(l, "solaris"):
		return "solarisGuest"
	case strings.HasPrefix(l, "netware"):
		return "netwareGuest"
	}
	for _, p := range []string{"debian", "ubuntu", "rhel", "centos", "sles", "suse", "opensuse", "fedora", "oracle", "asianux",
		"mandr", "turbo", "redhat", "photon", "vmwarephoton", "coreos", "amazon", "rocky", "alma", "other2", "other3", "other4", "other5"} {
		if strings.HasPrefix(l, p) {
			return "linuxGuest"
		}
	}
	if strings.Contains(l, "linux") {
		return "linuxGuest"
	}
	return "otherGuestFamily"
}
