package probe

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
)

// Address is where the host reaches one pod VM. The target that runs the
// pod VM provides it: its IP on a libvirt network or bridge, or the port
// forwards of user networking.
type Address interface {
	// HostPort is the host:port that reaches the guest's TCP port.
	HostPort(guestPort int) (string, error)
	// PingIP is the IP address that answers ICMP for the guest. A
	// *SkippedError means the network cannot carry a ping at all.
	PingIP() (string, error)
	// Relayed reports whether a relay on the host accepts connections on
	// the guest's behalf (QEMU's hostfwd): an accepted connection then
	// proves only the relay, and a TCP check must see that the guest does
	// not close it.
	Relayed() bool
	// String describes the address for the run record.
	String() string
}

// SkippedError says why a check cannot run at all; its result is
// "skipped" with this reason, never a pass.
type SkippedError struct{ Reason string }

func (e *SkippedError) Error() string { return e.Reason }

// IP is a pod VM reached at its own address (a libvirt network, a bridge).
type IP string

var _ Address = IP("")

// HostPort joins the IP and the guest port.
func (a IP) HostPort(guestPort int) (string, error) {
	return net.JoinHostPort(string(a), strconv.Itoa(guestPort)), nil
}

// PingIP is the IP itself.
func (a IP) PingIP() (string, error) { return string(a), nil }

// Relayed is false: connections reach the guest itself.
func (a IP) Relayed() bool { return false }

func (a IP) String() string { return string(a) }

// Forwarded is a pod VM on QEMU user networking (slirp), reached through
// the ports it publishes on the host.
type Forwarded struct {
	Host  string      // the host address the forwards listen on; "" or 0.0.0.0 is 127.0.0.1
	Ports map[int]int // guest TCP port -> host port
}

var _ Address = Forwarded{}

// HostPort is the host port that forwards to guestPort.
func (a Forwarded) HostPort(guestPort int) (string, error) {
	p, ok := a.Ports[guestPort]
	if !ok {
		return "", fmt.Errorf("guest port %d is not published on the host (user networking reaches a guest only through its port forwards)", guestPort)
	}
	return net.JoinHostPort(a.host(), strconv.Itoa(p)), nil
}

// PingIP is never possible: slirp carries no ICMP to the guest.
func (a Forwarded) PingIP() (string, error) {
	return "", &SkippedError{Reason: "not possible on user networking: QEMU's slirp carries no ICMP to the guest (map the NIC to libvirt:NAME or bridge:NAME to ping it)"}
}

// Relayed is true: QEMU accepts on the host port whether or not the guest listens.
func (a Forwarded) Relayed() bool { return true }

func (a Forwarded) host() string {
	if a.Host == "" || a.Host == "0.0.0.0" || a.Host == "::" {
		return "127.0.0.1"
	}
	return a.Host
}

func (a Forwarded) String() string {
	var fw []string
	for g, h := range a.Ports {
		fw = append(fw, fmt.Sprintf("%d->%d", h, g))
	}
	sort.Strings(fw)
	return "user networking via " + a.host() + " (" + strings.Join(fw, ", ") + ")"
}
