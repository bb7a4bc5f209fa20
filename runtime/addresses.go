package runtime

import (
	"net"
	"strings"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"
)

// Where a pod VM's address was learnt.
const (
	AddressFromLease     = "lease"     // the libvirt network's DHCP leases, by MAC
	AddressFromAgent     = "agent"     // qemu-guest-agent's interface list
	AddressFromReadiness = "readiness" // ip= on the readiness line
)

// Address is one IP address of a running pod VM.
type Address struct {
	IP      string `json:"ip"`
	NIC     string `json:"nic,omitempty"`     // the spec's NIC name, when known
	MAC     string `json:"mac,omitempty"`     // when known
	Network string `json:"network,omitempty"` // user, libvirt:NAME or bridge:NAME, when known
	Source  string `json:"source"`            // lease | agent | readiness
}

// guestAgentChannel names the qemu-guest-agent's virtio-serial port.
const guestAgentChannel = "org.qemu.guest_agent.0"

// liveNIC is a NIC of a running domain: its MAC and network.
type liveNIC struct {
	name, mac string
	net       NICNetwork
}

// addresses gathers a running pod VM's addresses: from the DHCP leases of
// the libvirt networks its NICs are on, from the guest agent when its
// channel is connected, and from ip= on the readiness line. The first
// source to name an address wins; none of them fails the caller.
func (r *Runtime) addresses(p *PodVM) []Address {
	dom, err := r.conn.LookupDomainByName(p.Domain)
	if err != nil {
		return readinessAddresses(p, nil)
	}
	defer dom.Free()
	var d libvirtxml.Domain
	if x, err := dom.GetXMLDesc(0); err == nil {
		_ = d.Unmarshal(x)
	}
	nics := liveNICs(p, &d)
	var out []Address
	add := func(a Address) {
		ip := net.ParseIP(a.IP)
		if ip == nil || ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsUnspecified() {
			return
		}
		for _, b := range out {
			if b.IP == a.IP {
				return
			}
		}
		out = append(out, a)
	}
	leases := map[string][]libvirt.NetworkDHCPLease{}
	for _, n := range nics {
		if n.net.Kind != NetworkLibvirt || n.mac == "" {
			continue
		}
		l, ok := leases[n.net.Name]
		if !ok {
			l = r.networkLeases(n.net.Name)
			leases[n.net.Name] = l
		}
		for _, lease := range l {
			if strings.EqualFold(lease.Mac, n.mac) {
				add(Address{IP: lease.IPaddr, NIC: n.name, MAC: n.mac, Network: n.net.String(), Source: AddressFromLease})
			}
		}
	}
	if agentConnected(&d) {
		if ifaces, err := dom.ListAllInterfaceAddresses(libvirt.DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT); err == nil {
			for _, i := range ifaces {
				a := Address{MAC: strings.ToLower(i.Hwaddr), Source: AddressFromAgent}
				if a.MAC == "" || a.MAC == "00:00:00:00:00:00" {
					continue // loopback
				}
				for _, n := range nics {
					if strings.EqualFold(n.mac, a.MAC) {
						a.NIC, a.Network = n.name, n.net.String()
					}
				}
				for _, ip := range i.Addrs {
					a.IP = ip.Addr
					add(a)
				}
			}
		}
	}
	for _, a := range readinessAddresses(p, nics) {
		add(a)
	}
	return out
}

// networkLeases are a libvirt network's DHCP leases; none when it cannot
// be read.
func (r *Runtime) networkLeases(name string) []libvirt.NetworkDHCPLease {
	n, err := r.conn.LookupNetworkByName(name)
	if err != nil {
		return nil
	}
	defer n.Free()
	l, err := n.GetDHCPLeases()
	if err != nil {
		return nil
	}
	return l
}

// liveNICs pairs the spec's NICs with the running domain's interfaces, by
// MAC (libvirt makes one up for a NIC the spec gives none). The NIC with
// port forwards is on QEMU's command line, not in the domain's interfaces.
func liveNICs(p *PodVM, d *libvirtxml.Domain) []liveNIC {
	var ifaces []libvirtxml.DomainInterface
	if d.Devices != nil {
		ifaces = d.Devices.Interfaces
	}
	var out []liveNIC
	used := make([]bool, len(ifaces))
	for _, n := range p.Spec.NICs {
		nn, _ := ParseNICNetwork(n.Network)
		ln := liveNIC{name: n.Name, mac: strings.ToLower(n.MAC), net: nn}
		for i, iface := range ifaces {
			if used[i] || iface.MAC == nil || (ln.mac != "" && !strings.EqualFold(iface.MAC.Address, ln.mac)) {
				continue
			}
			if ln.mac == "" && ifaceNetwork(iface) != nn {
				continue
			}
			used[i], ln.mac = true, strings.ToLower(iface.MAC.Address)
			break
		}
		out = append(out, ln)
	}
	return out
}

// ifaceNetwork is the network a domain interface is on.
func ifaceNetwork(iface libvirtxml.DomainInterface) NICNetwork {
	switch s := iface.Source; {
	case s != nil && s.Network != nil:
		return NICNetwork{Kind: NetworkLibvirt, Name: s.Network.Network}
	case s != nil && s.Bridge != nil:
		return NICNetwork{Kind: NetworkBridge, Name: s.Bridge.Bridge}
	}
	return NICNetwork{Kind: NetworkUser}
}

// agentConnected tells whether the domain has the guest agent's channel
// and an agent is on the other end (libvirt reports the port's state), so
// asking it does not wait for an agent that is not there.
func agentConnected(d *libvirtxml.Domain) bool {
	if d.Devices == nil {
		return false
	}
	for _, c := range d.Devices.Channels {
		if t := c.Target; t != nil && t.VirtIO != nil && t.VirtIO.Name == guestAgentChannel && t.VirtIO.State == "connected" {
			return true
		}
	}
	return false
}

// readinessAddresses are the ip= values of the readiness line (the test
// guest prints ip=ADDRESS|none). The line does not say which NIC: with
// one NIC it is that one.
func readinessAddresses(p *PodVM, nics []liveNIC) []Address {
	var out []Address
	for _, f := range strings.Fields(p.ReadyLine) {
		v, ok := strings.CutPrefix(f, "ip=")
		if !ok {
			continue
		}
		for _, s := range strings.Split(v, ",") {
			s, _, _ = strings.Cut(s, "/")
			if net.ParseIP(s) == nil {
				continue
			}
			a := Address{IP: s, Source: AddressFromReadiness}
			if len(nics) == 1 {
				a.NIC, a.MAC, a.Network = nics[0].name, nics[0].mac, nics[0].net.String()
			}
			out = append(out, a)
		}
	}
	return out
}
