package runtime

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// PortForward publishes a guest port on the host through user-mode
// networking, like `docker run -p`.
type PortForward struct {
	Proto     string `json:"proto"`              // tcp | udp
	HostAddr  string `json:"hostAddr,omitempty"` // empty: all addresses
	HostPort  int    `json:"hostPort"`
	GuestPort int    `json:"guestPort"`
}

// String gives the forward back in --publish form.
func (p PortForward) String() string {
	s := fmt.Sprintf("%d:%d/%s", p.HostPort, p.GuestPort, p.Proto)
	if p.HostAddr != "" {
		s = net.JoinHostPort(p.HostAddr, strconv.Itoa(p.HostPort)) + fmt.Sprintf(":%d/%s", p.GuestPort, p.Proto)
	}
	return s
}

// hostfwd is the forward in QEMU's -netdev user,hostfwd= syntax.
func (p PortForward) hostfwd() string {
	return fmt.Sprintf("%s:%s:%d-:%d", p.Proto, p.HostAddr, p.HostPort, p.GuestPort)
}

// ParsePublish reads HOSTPORT:GUESTPORT, ADDR:HOSTPORT:GUESTPORT, with an
// optional /tcp or /udp.
func ParsePublish(s string) (PortForward, error) {
	p := PortForward{Proto: "tcp"}
	spec := s
	if i := strings.LastIndex(spec, "/"); i >= 0 {
		p.Proto = spec[i+1:]
		spec = spec[:i]
		if p.Proto != "tcp" && p.Proto != "udp" {
			return p, fmt.Errorf("--publish %q: protocol %q: want tcp or udp", s, p.Proto)
		}
	}
	i := strings.LastIndex(spec, ":")
	if i < 0 {
		return p, fmt.Errorf("--publish %q: want HOSTPORT:GUESTPORT or ADDR:HOSTPORT:GUESTPORT", s)
	}
	host, guest := spec[:i], spec[i+1:]
	if j := strings.LastIndex(host, ":"); j >= 0 {
		p.HostAddr = strings.Trim(host[:j], "[]")
		host = host[j+1:]
		if net.ParseIP(p.HostAddr) == nil {
			return p, fmt.Errorf("--publish %q: %q is not an IP address", s, p.HostAddr)
		}
	}
	var err error
	if p.HostPort, err = port(host); err != nil {
		return p, fmt.Errorf("--publish %q: host port: %w", s, err)
	}
	if p.GuestPort, err = port(guest); err != nil {
		return p, fmt.Errorf("--publish %q: guest port: %w", s, err)
	}
	return p, nil
}

func port(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("%q is not a port (1-65535)", s)
	}
	return n, nil
}
