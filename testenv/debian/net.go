package debian

import (
	"fmt"
	"net/netip"
	"strings"
)

// VMwareNIC is the name Debian gives the first vmxnet3 NIC of a VMware VM
// (PCI slot 192): the name an admin's /etc/network/interfaces refers to.
const VMwareNIC = "ens192"

// Network modes of the Debian test guest.
const (
	NetDefault = ""       // no network configuration, as built so far
	NetDHCP    = "dhcp"   // ifupdown, DHCP on ens192
	NetStatic  = "static" // ifupdown, a static address on ens192
)

// Net is how the Debian test guest configures its NIC.
type Net struct {
	Mode    string       // NetDefault, NetDHCP or NetStatic
	Address netip.Prefix // static only: ADDR/PREFIX
	Gateway netip.Addr   // static only, optional
}

// ParseNet reads a --net value: "" (none), "dhcp", or
// "static:ADDR/PREFIX[,gw=GW]" with IPv4 addresses.
func ParseNet(s string) (Net, error) {
	switch {
	case s == "" || s == "none":
		return Net{}, nil
	case s == NetDHCP:
		return Net{Mode: NetDHCP}, nil
	case strings.HasPrefix(s, NetStatic+":"):
	default:
		return Net{}, fmt.Errorf("network %q: want dhcp or static:ADDR/PREFIX[,gw=GW]", s)
	}
	fields := strings.Split(strings.TrimPrefix(s, NetStatic+":"), ",")
	p, err := netip.ParsePrefix(fields[0])
	if err != nil || !p.Addr().Is4() {
		return Net{}, fmt.Errorf("network %q: address %q: want an IPv4 ADDR/PREFIX such as 192.168.122.50/24", s, fields[0])
	}
	n := Net{Mode: NetStatic, Address: p}
	for _, f := range fields[1:] {
		k, v, _ := strings.Cut(f, "=")
		if k != "gw" {
			return Net{}, fmt.Errorf("network %q: option %q: only gw=GW is known", s, f)
		}
		gw, err := netip.ParseAddr(v)
		if err != nil || !gw.Is4() {
			return Net{}, fmt.Errorf("network %q: gateway %q: want an IPv4 address", s, v)
		}
		if !p.Masked().Contains(gw) {
			return Net{}, fmt.Errorf("network %q: gateway %s is outside %s", s, gw, p.Masked())
		}
		n.Gateway = gw
	}
	return n, nil
}

// String is the --net form of n ("" for the default).
func (n Net) String() string {
	switch n.Mode {
	case NetStatic:
		s := "static:" + n.Address.String()
		if n.Gateway.IsValid() {
			s += ",gw=" + n.Gateway.String()
		}
		return s
	case NetDHCP:
		return NetDHCP
	}
	return ""
}

// netPackages are what a VMware install with a configured network has on
// top of debianPackages: ifupdown (the installer's default), iproute2 and
// the DHCP client ifupdown calls.
var netPackages = []string{"ifupdown", "iproute2", "isc-dhcp-client"}

// packages returns the packages the recipe installs.
func (n Net) packages() []string {
	if n.Mode == NetDefault {
		return debianPackages
	}
	return append(append([]string{}, debianPackages...), netPackages...)
}

// interfaces is /etc/network/interfaces as the Debian installer leaves it
// on VMware, bound to the vmxnet3 NIC's name. "auto" (rather than the
// installer's allow-hotplug) has networking.service bring it up before
// multi-user.target, so the readiness line sees the address.
func (n Net) interfaces() string {
	var b strings.Builder
	b.WriteString(`# This file describes the network interfaces available on your system
# and how to activate them. For more information, see interfaces(5).

source /etc/network/interfaces.d/*

# The loopback network interface
auto lo
iface lo inet loopback

# The primary network interface
auto ` + VMwareNIC + "\n")
	switch n.Mode {
	case NetDHCP:
		b.WriteString("iface " + VMwareNIC + " inet dhcp\n")
	case NetStatic:
		b.WriteString("iface " + VMwareNIC + " inet static\n")
		fmt.Fprintf(&b, "\taddress %s\n", n.Address)
		if n.Gateway.IsValid() {
			fmt.Fprintf(&b, "\tgateway %s\n", n.Gateway)
		}
	}
	return b.String()
}

// debianNetReadyScript is the readiness script of a guest with a network:
// the first global IPv4 address (or none) and the NIC that holds it.
const debianNetReadyScript = `#!/bin/sh
# Prints the podvm-migrate readiness line on the first serial port.
up=$(cut -d' ' -f1 /proc/uptime)
tools=absent
[ -x /usr/bin/vmtoolsd ] && tools=present
set -- $(ip -4 -o addr show scope global 2>/dev/null | awk '{sub("/.*", "", $4); print $2, $4; exit}')
nic=${1:-none}
ip=${2:-none}
echo "PODVM-READY uptime=${up} ip=${ip} nic=${nic} distro=debian12 kernel=$(uname -r) root=$(findmnt -no SOURCE /) open-vm-tools=${tools}" > /dev/ttyS0
`

// files adds the network configuration to the recipe's files.
func (n Net) files(files map[string]string) map[string]string {
	if n.Mode == NetDefault {
		return files
	}
	files["etc/network/interfaces"] = n.interfaces()
	files["usr/local/sbin/podvm-ready"] = debianNetReadyScript
	return files
}
