package libvirtd

import (
	"context"
	"fmt"
	"strings"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"
)

// DefaultNetwork is libvirt's usual NAT network, as Debian's
// libvirt-daemon-system ships it: virbr0, 192.168.122.0/24, DHCP from
// dnsmasq (dnsmasq-base).
const DefaultNetwork = "default"

// NetworkStatus says what EnsureNetwork found or did.
type NetworkStatus struct {
	Name    string `json:"name"`
	Bridge  string `json:"bridge"`
	Address string `json:"address"` // the host's address on it, CIDR
	Defined bool   `json:"defined"` // this call defined it
	Started bool   `json:"started"` // this call started it
}

// NetworkOptions describe a NAT network with DHCP for EnsureNetwork.
type NetworkOptions struct {
	Name   string // libvirt name
	Bridge string // bridge device, at most 15 characters
	Subnet string // the host's address and prefix, e.g. 192.168.122.1/24; DHCP hands out .2 to .254
	// STP turns on the bridge's spanning tree, as libvirt's default
	// network has it: a new port then forwards only after the kernel's
	// minimum forward delay twice (about 4 s), which a guest that tries
	// DHCP for a few seconds right after boot can miss.
	STP bool
}

// DefaultNetworkOptions are libvirt's default network.
func DefaultNetworkOptions() NetworkOptions {
	return NetworkOptions{Name: DefaultNetwork, Bridge: "virbr0", Subnet: "192.168.122.1/24", STP: true}
}

// NetworkXML renders the network: NAT to the host's uplink, DHCP on the
// subnet's .2 to .254.
func NetworkXML(o NetworkOptions) (string, error) {
	addr, prefix, ok := strings.Cut(o.Subnet, "/")
	if !ok || prefix != "24" || strings.Count(addr, ".") != 3 {
		return "", fmt.Errorf("network %s: subnet %q: want A.B.C.1/24", o.Name, o.Subnet)
	}
	base := addr[:strings.LastIndex(addr, ".")+1]
	stp := "off"
	if o.STP {
		stp = "on"
	}
	n := libvirtxml.Network{
		Name:    o.Name,
		Forward: &libvirtxml.NetworkForward{Mode: "nat"},
		Bridge:  &libvirtxml.NetworkBridge{Name: o.Bridge, STP: stp, Delay: "0"},
		IPs: []libvirtxml.NetworkIP{{Address: addr, Netmask: "255.255.255.0",
			DHCP: &libvirtxml.NetworkDHCP{Ranges: []libvirtxml.NetworkDHCPRange{{Start: base + "2", End: base + "254"}}}}},
	}
	return n.Marshal()
}

// EnsureNetwork makes sure the libvirt network runs at uri (default
// qemu:///system): defined from o when libvirt lacks it, started when
// inactive. A network of the name that exists is used as it is. Starting
// one creates its bridge and runs dnsmasq, which needs root, CAP_NET_ADMIN
// and dnsmasq-base.
func EnsureNetwork(ctx context.Context, uri string, o NetworkOptions) (*NetworkStatus, error) {
	if uri == "" {
		uri = "qemu:///system"
	}
	if _, err := Ensure(ctx, uri); err != nil {
		return nil, err
	}
	conn, err := libvirt.NewConnect(uri)
	if err != nil {
		return nil, fmt.Errorf("libvirt: %s: %w", uri, err)
	}
	defer conn.Close()
	st := &NetworkStatus{Name: o.Name}
	net, err := conn.LookupNetworkByName(o.Name)
	if err != nil {
		x, xerr := NetworkXML(o)
		if xerr != nil {
			return nil, xerr
		}
		if net, err = conn.NetworkDefineXML(x); err != nil {
			return nil, fmt.Errorf("libvirt network %s: define: %w", o.Name, err)
		}
		st.Defined = true
	}
	defer net.Free()
	if active, err := net.IsActive(); err != nil || !active {
		if err := net.Create(); err != nil {
			if active, aerr := net.IsActive(); aerr != nil || !active {
				return nil, fmt.Errorf("libvirt network %s: start: %w (it needs root, a kernel that lets this host create bridges and dnsmasq-base: make deps)", o.Name, err)
			}
		} else {
			st.Started = true
		}
	}
	if x, err := net.GetXMLDesc(0); err == nil {
		var n libvirtxml.Network
		if n.Unmarshal(x) == nil {
			if n.Bridge != nil {
				st.Bridge = n.Bridge.Name
			}
			for _, ip := range n.IPs {
				if ip.Family == "" || ip.Family == "ipv4" {
					st.Address = ip.Address + "/" + maskBits(ip)
					break
				}
			}
		}
	}
	return st, nil
}

// maskBits is the prefix length of a network IP element.
func maskBits(ip libvirtxml.NetworkIP) string {
	if ip.Prefix != 0 {
		return fmt.Sprint(ip.Prefix)
	}
	bits := 0
	for _, part := range strings.Split(ip.Netmask, ".") {
		var b int
		fmt.Sscan(part, &b)
		for ; b > 0; b = (b << 1) & 0xff {
			bits++
		}
	}
	return fmt.Sprint(bits)
}
