package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"github.com/podvm-migrate/podvm-migrate/podvm"
)

// Kinds of network a pod VM NIC can be on. The spec's NIC network (the
// plan's network map target) picks one: "libvirt:NAME", "bridge:NAME", and
// anything else (the pod network, a Multus name, nothing) is user
// networking.
const (
	NetworkUser    = "user"    // QEMU user networking, with the port forwards (default)
	NetworkLibvirt = "libvirt" // a libvirt network, e.g. libvirt:default
	NetworkBridge  = "bridge"  // a bridge on the host, e.g. bridge:br0
)

// PrepareNetworksHandler checks (and starts) the networks the NICs need.
const PrepareNetworksHandler = "prepare-networks"

// Errors of the networks a pod VM's NICs are put on.
var (
	// ErrNetworkNotFound: libvirt has no network of the name.
	ErrNetworkNotFound = errors.New("libvirt network not found")
	// ErrBridgeNotFound: the host has no bridge of the name.
	ErrBridgeNotFound = errors.New("host bridge not found")
)

// NICNetwork is where one NIC lands.
type NICNetwork struct {
	Kind string // NetworkUser | NetworkLibvirt | NetworkBridge
	Name string // the libvirt network or the bridge; empty for user networking
}

// String gives the network back in network map form (user for user
// networking).
func (n NICNetwork) String() string {
	if n.Kind == NetworkUser {
		return NetworkUser
	}
	return n.Kind + ":" + n.Name
}

// ParseNICNetwork reads a spec NIC's network: libvirt:NAME, bridge:NAME, or
// anything else for user networking.
func ParseNICNetwork(target string) (NICNetwork, error) {
	for _, kind := range []string{NetworkLibvirt, NetworkBridge} {
		if name, ok := strings.CutPrefix(target, kind+":"); ok {
			if name == "" || strings.ContainsAny(name, " /:") {
				return NICNetwork{}, fmt.Errorf("network %q: want %s:NAME", target, kind)
			}
			return NICNetwork{Kind: kind, Name: name}, nil
		}
	}
	return NICNetwork{Kind: NetworkUser}, nil
}

// interfaceSource is the libvirt interface source of a NIC not on QEMU's
// command line.
func (n NICNetwork) interfaceSource() *libvirtxml.DomainInterfaceSource {
	switch n.Kind {
	case NetworkLibvirt:
		return &libvirtxml.DomainInterfaceSource{Network: &libvirtxml.DomainInterfaceSourceNetwork{Network: n.Name}}
	case NetworkBridge:
		return &libvirtxml.DomainInterfaceSource{Bridge: &libvirtxml.DomainInterfaceSourceBridge{Bridge: n.Name}}
	}
	return &libvirtxml.DomainInterfaceSource{User: &libvirtxml.DomainInterfaceSourceUser{}}
}

// prepareNetworks checks every NIC's network before the domain is made: a
// libvirt network must exist and is started when inactive, a bridge must
// exist, and published ports need a NIC on user networking.
func prepareNetworks(ctx context.Context, m *Machine) error {
	if nw := m.Config.Network; nw != "" {
		if _, err := ParseNICNetwork(nw); err != nil {
			return fmt.Errorf("pod VM %s: %w", m.name, err)
		}
		m.spec.NICs = append([]podvm.NIC(nil), m.spec.NICs...) // the caller's spec stays untouched
		for i := range m.spec.NICs {
			m.spec.NICs[i].Network = nw
		}
	}
	user := len(m.spec.NICs) == 0
	for _, n := range m.spec.NICs {
		nn, err := ParseNICNetwork(n.Network)
		if err != nil {
			return fmt.Errorf("pod VM %s: nic %s: %w", m.name, n.Name, err)
		}
		switch nn.Kind {
		case NetworkUser:
			user = true
		case NetworkLibvirt:
			if err := m.rt.EnsureNetwork(ctx, nn.Name); err != nil {
				return fmt.Errorf("pod VM %s: nic %s: %w", m.name, n.Name, err)
			}
		case NetworkBridge:
			if err := checkBridge(nn.Name); err != nil {
				return fmt.Errorf("pod VM %s: nic %s: %w", m.name, n.Name, err)
			}
		}
	}
	if len(m.Config.Publish) > 0 && !user {
		return fmt.Errorf("pod VM %s: %w: published ports need a NIC on user networking, and every NIC is on a libvirt network or bridge (reach the guest at its address instead, see 'podvm-migrate list')", m.name, ErrUnsatisfiable)
	}
	return nil
}

// EnsureNetwork makes sure the libvirt network runs: it is started when it
// is defined but inactive. A missing network is ErrNetworkNotFound with how
// to create it.
func (r *Runtime) EnsureNetwork(_ context.Context, name string) error {
	net, err := r.conn.LookupNetworkByName(name)
	if err != nil {
		var lerr libvirt.Error
		if errors.As(err, &lerr) && lerr.Code == libvirt.ERR_NO_NETWORK {
			return fmt.Errorf("libvirt network %s: %w: %s", name, ErrNetworkNotFound, networkHint(name))
		}
		return fmt.Errorf("libvirt network %s: %w", name, err)
	}
	defer net.Free()
	if active, err := net.IsActive(); err == nil && active {
		return nil
	}
	if err := net.Create(); err != nil {
		// Another pod VM may have started it meanwhile.
		if active, aerr := net.IsActive(); aerr == nil && active {
			return nil
		}
		return fmt.Errorf("libvirt network %s is inactive and did not start: %w (see 'virsh net-start %s' and libvirtd's log)", name, err, name)
	}
	r.cfg.Log.Info("started libvirt network", "network", name)
	return nil
}

// networkHint says how to create and start a missing libvirt network.
func networkHint(name string) string {
	if name == "default" {
		return "define and start it with 'virsh net-define /usr/share/libvirt/networks/default.xml && virsh net-start default' (libvirt-daemon-system ships the file; dnsmasq-base serves its DHCP), or 'podvm-testenv libvirt --default-network'"
	}
	return fmt.Sprintf("define it with 'virsh net-define FILE.xml' (a <network> named %s) and start it with 'virsh net-start %s', or map the NIC to another network", name, name)
}

// sysClassNet is where the host's interfaces are listed.
const sysClassNet = "/sys/class/net"

// checkBridge checks the host has a bridge of the name. (It looks on this
// host: the runtime's libvirtd runs here.)
func checkBridge(name string) error {
	if _, err := os.Stat(filepath.Join(sysClassNet, name, "bridge")); err == nil {
		return nil
	}
	if _, err := os.Stat(filepath.Join(sysClassNet, name)); err == nil {
		return fmt.Errorf("host interface %s: %w: it is an interface but not a bridge (put it in a bridge and map the NIC to bridge:BRIDGE)", name, ErrBridgeNotFound)
	}
	return fmt.Errorf("bridge %s: %w: create it with 'ip link add %s type bridge && ip link set %s up' (and add the host's uplink to it), or map the NIC to libvirt:NAME", name, ErrBridgeNotFound, name, name)
}
