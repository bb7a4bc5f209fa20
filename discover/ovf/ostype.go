package ovf

import (
	"strconv"
	"strings"
)

// cimGuestIDs maps CIM operating system codes (the numeric ovf:id of the
// OperatingSystemSection, DMTF CIM_OperatingSystem.OSType) to vSphere
// guest ids, with 32- and 64-bit kept apart: the CIM code says which, and
// the 64-bit guest ids end in 64Guest. Codes that name a version family
// (Debian, RHEL, Ubuntu) get that family's id.
var cimGuestIDs = map[int]string{
	1: "otherGuest", 2: "darwinGuest", 12: "os2Guest", 14: "dosGuest", 15: "win31Guest", 16: "win95Guest", 17: "win98Guest",
	18: "winNTGuest", 21: "netware6Guest", 25: "unixWare7Guest", 26: "openServer6Guest", 29: "solaris10Guest", 30: "solaris10Guest",
	36: "otherLinuxGuest", 42: "freebsdGuest", 58: "win2000ProGuest", 63: "winMeGuest", 67: "winXPProGuest",
	69: "winNetStandardGuest", 70: "winNetStandard64Guest", 71: "winXPPro64Guest", 73: "winVistaGuest", 74: "winVista64Guest",
	76: "winLonghornGuest", 77: "winLonghorn64Guest", 78: "freebsd64Guest", 79: "rhel6Guest", 80: "rhel6_64Guest",
	81: "solaris10_64Guest", 82: "suseGuest", 83: "suse64Guest", 84: "slesGuest", 85: "sles64Guest", 86: "oesGuest",
	87: "otherLinuxGuest", 88: "otherLinuxGuest", 89: "mandrivaGuest", 90: "mandriva64Guest", 91: "turboLinuxGuest",
	92: "turboLinux64Guest", 93: "ubuntuGuest", 94: "ubuntu64Guest", 95: "debian10Guest", 96: "debian10_64Guest",
	97: "other24xLinuxGuest", 98: "other24xLinux64Guest", 99: "other26xLinuxGuest", 100: "other26xLinux64Guest",
	101: "otherLinux64Guest", 102: "otherGuest64", 103: "windows7Server64Guest", 104: "vmkernel7Guest", 105: "windows7Guest",
	106: "centosGuest", 107: "centos64Guest", 108: "oracleLinuxGuest", 109: "oracleLinux64Guest", 110: "eComStation2Guest",
	111: "windows7Server64Guest", 112: "windows8Server64Guest", 113: "windows8Guest", 114: "windows8_64Guest",
	115: "windows8Server64Guest", 116: "windows9Server64Guest", 117: "windows8Guest", 118: "windows8_64Guest",
	119: "windows9Guest", 120: "windows9_64Guest", 121: "windows2019srv_64Guest", 122: "windows11_64Guest",
	123: "windows2019srvNext_64Guest",
}

// cimGuestID maps a CIM operating system code to a guest id; ok is false
// for a code that is not a number or not in the table (the guest is then
// otherGuest, or otherGuest64 when the description says 64-bit).
func cimGuestID(code, description string) (id string, ok bool) {
	n, err := strconv.Atoi(strings.TrimSpace(code))
	if err == nil {
		if id, found := cimGuestIDs[n]; found {
			return id, true
		}
	}
	if strings.Contains(strings.ToLower(description), "64-bit") || strings.Contains(description, "64 bit") {
		return "otherGuest64", false
	}
	return "otherGuest", false
}
