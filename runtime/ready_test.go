package runtime

import "testing"

// TestReadyLineIn: the readiness line is whole only once its end of line
// is printed; a console read in the middle of it (TCG prints slowly) gives
// an unfinished line, which the wait does not take at once.
func TestReadyLineIn(t *testing.T) {
	for _, tc := range []struct {
		console        string
		line           string
		complete, seen bool
	}{
		{"booting\r\n", "", false, false},
		{"[ 1.2] x\r\nPODVM-READY uptime=66.53 ip=10.0.2.1", "PODVM-READY uptime=66.53 ip=10.0.2.1", false, true},
		{"[ 1.2] x\r\nPODVM-READY uptime=66.53 ip=10.0.2.15 nic=ens192\r\nlogin:", "PODVM-READY uptime=66.53 ip=10.0.2.15 nic=ens192", true, true},
		{"PODVM-READY uptime=1.00\n", "PODVM-READY uptime=1.00", true, true},
		{"PODVM-READY", "PODVM-READY", false, true},
	} {
		line, complete, seen := readyLineIn([]byte(tc.console), DefaultReadyLine)
		if line != tc.line || complete != tc.complete || seen != tc.seen {
			t.Errorf("console %q: %q complete=%v seen=%v; want %q %v %v", tc.console, line, complete, seen, tc.line, tc.complete, tc.seen)
		}
	}
}
