package vmx

import "strings"

// guestIDExceptions are VMX guestOS keys whose API guest id does not follow
// the usual rule.
var guestIDExceptions = map[string]string{
	"other":               "otherGuest",
	"other-64":            "otherGuest64",
	"otherlinux":          "otherLinuxGuest",
	"otherlinux-64":       "otherLinux64Guest",
	"other24xlinux":       "other24xLinuxGuest",
	"other26xlinux":       "other26xLinuxGuest",
	"other3xlinux":        "other3xLinuxGuest",
	"other4xlinux":        "other4xLinuxGuest",
	"other5xlinux":        "other5xLinuxGuest",
	"other26xlinux-64":    "other26xLinux64Guest",
	"other3xlinux-64":     "other3xLinux64Guest",
	"other4xlinux-64":     "other4xLinux64Guest",
	"other5xlinux-64":     "other5xLinux64Guest",
	"windows9":            "windows9Guest",
	"windows9-64":         "windows9_64Guest",
	"windows9srv-64":      "windows9Server64Guest",
	"windows7srv-64":      "windows7Server64Guest",
	"windows8srv-64":      "windows8Server64Guest",
	"winnetstandard":      "winNetStandardGuest",
	"winnetenterprise-64": "winNetEnterprise64Guest",
	"winxppro":            "winXPProGuest",
}

// GuestID maps a VMX guestOS key to the vSphere API guest id:
// debian12-64 -> debian12_64Guest, ubuntu-64 -> ubuntu64Guest (a
// version number in the name takes "_64"). The key keeps its letter case
// (windows2019srvNext-64 -> windows2019srvNext_64Guest), as API ids are
// case-sensitive.
func GuestID(key string) string {
	k := strings.TrimSpace(key)
	if id, ok := guestIDExceptions[strings.ToLower(k)]; ok {
		return id
	}
	if l := strings.ToLower(k); strings.HasSuffix(l, "guest") || strings.HasSuffix(l, "guest64") {
		return k // already an API id
	}
	if base, ok := strings.CutSuffix(k, "-64"); ok {
		if strings.ContainsAny(base, "0123456789") {
			return base + "_64Guest"
		}
		return base + "64Guest"
	}
	return k + "Guest"
}
