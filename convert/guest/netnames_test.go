package guest

import (
	"reflect"
	"strings"
	"testing"
)

func TestConfiguredNICNames(t *testing.T) {
	for _, c := range []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{"ifupdown as the Debian installer leaves it on VMware", map[string]string{
			"/etc/network/interfaces": "source /etc/network/interfaces.d/*\n\n# The loopback network interface\nauto lo\niface lo inet loopback\n\n# The primary network interface\nallow-hotplug ens192\niface ens192 inet static\n\taddress 192.168.122.50/24\n\tgateway 192.168.122.1\n",
		}, []string{"ens192"}},
		{"ifupdown: two NICs, a VLAN, an alias and a bridge", map[string]string{
			"/etc/network/interfaces":      "auto ens224 ens192 # second, first\niface ens192 inet dhcp\niface ens192:1 inet static\n\taddress 10.0.0.2/24\n",
			"/etc/network/interfaces.d/br": "auto br0\niface br0 inet dhcp\n\tbridge_ports ens224\nauto ens224.100\niface ens224.100 inet manual\n",
		}, []string{"ens224", "ens192"}},
		{"netplan", map[string]string{
			"/etc/netplan/50-cloud-init.yaml": "network:\n  version: 2\n  ethernets:\n    ens192:\n      addresses: [192.168.122.50/24]\n      routes:\n        - to: default\n          via: 192.168.122.1\n    lan:\n      match:\n        name: ens224\n    pinned:\n      match:\n        macaddress: 00:50:56:aa:bb:cc\n      set-name: ens256\n  vlans:\n    vlan10:\n      id: 10\n      link: ens161\n",
		}, []string{"ens161", "ens192", "ens224"}},
		{"NetworkManager keyfiles", map[string]string{
			"/etc/NetworkManager/system-connections/ens192.nmconnection": "[connection]\nid=ens192\ntype=ethernet\ninterface-name=ens192\n\n[ipv4]\naddress1=192.168.122.50/24,192.168.122.1\nmethod=manual\n",
			"/etc/NetworkManager/system-connections/by-mac.nmconnection": "[connection]\nid=x\ninterface-name=ens224\n[ethernet]\nmac-address=00:50:56:AA:BB:CC\n",
		}, []string{"ens192"}},
		{"systemd-networkd", map[string]string{
			"/etc/systemd/network/10-lan.network":  "[Match]\nName=ens192 ens224\n\n[Network]\nAddress=192.168.122.50/24\n",
			"/etc/systemd/network/20-glob.network": "[Match]\nName=en*\n[Network]\nDHCP=yes\n",
			"/etc/systemd/network/30-mac.network":  "[Match]\nMACAddress=00:50:56:aa:bb:cc\nName=ens256\n",
		}, []string{"ens192", "ens224"}},
		{"RHEL network-scripts", map[string]string{
			"/etc/sysconfig/network-scripts/ifcfg-ens192": "TYPE=Ethernet\nBOOTPROTO=none\nNAME=ens192\nDEVICE=ens192\nONBOOT=yes\nIPADDR=192.168.122.50\nPREFIX=24\n",
			"/etc/sysconfig/network-scripts/ifcfg-eth1":   "BOOTPROTO=dhcp\n",
			"/etc/sysconfig/network-scripts/ifcfg-eth2":   "DEVICE=eth2\nHWADDR=00:50:56:aa:bb:cc\n",
			"/etc/sysconfig/network-scripts/ifcfg-lo":     "DEVICE=lo\n",
		}, []string{"ens192", "eth1"}},
		{"nothing configured", map[string]string{"/etc/network/interfaces": "auto lo\niface lo inet loopback\n", "/etc/netplan/broken.yaml": "network: [\n"}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := ConfiguredNICNames(c.files); !reflect.DeepEqual(got, c.want) {
				t.Errorf("names %q, want %q", got, c.want)
			}
		})
	}
}

func TestPinNICNames(t *testing.T) {
	macs := []string{"00:50:56:3F:00:12", "00:50:56:3f:00:13", "00:50:56:3f:00:14"}
	for _, c := range []struct {
		name     string
		names    []string
		macs     []string
		want     []NetName
		unpinned []string
	}{
		{"one NIC", []string{"ens192"}, macs[:1], []NetName{{"ens192", "00:50:56:3f:00:12"}}, nil},
		{"VMware slot order, not the order found", []string{"ens256", "ens192", "ens224"}, macs,
			[]NetName{{"ens192", "00:50:56:3f:00:12"}, {"ens224", "00:50:56:3f:00:13"}, {"ens256", "00:50:56:3f:00:14"}}, nil},
		{"the fourth slot follows the third", []string{"ens161", "ens256"}, macs[:2],
			[]NetName{{"ens256", "00:50:56:3f:00:12"}, {"ens161", "00:50:56:3f:00:13"}}, nil},
		{"ethN by number", []string{"eth10", "eth2"}, macs[:2], []NetName{{"eth2", "00:50:56:3f:00:12"}, {"eth10", "00:50:56:3f:00:13"}}, nil},
		{"more names than NICs", []string{"ens192", "ens224"}, macs[:1], []NetName{{"ens192", "00:50:56:3f:00:12"}}, []string{"ens224"}},
		{"a NIC without a MAC", []string{"ens192", "ens224"}, []string{"", "00:50:56:3f:00:13"}, []NetName{{"ens224", "00:50:56:3f:00:13"}}, []string{"ens192"}},
		{"a MAC that is not one", []string{"ens192"}, []string{`00:50:56:3f:00:12", NAME="x`}, nil, []string{"ens192"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, unpinned := PinNICNames(c.names, c.macs)
			if !reflect.DeepEqual(got, c.want) || !reflect.DeepEqual(unpinned, c.unpinned) {
				t.Errorf("pins %v, unpinned %q; want %v, %q", got, unpinned, c.want, c.unpinned)
			}
		})
	}
}

func TestUdevNetRules(t *testing.T) {
	r := UdevNetRules([]NetName{{"ens192", "00:50:56:3f:00:12"}, {"ens224", "00:50:56:3f:00:13"}})
	for _, want := range []string{
		`SUBSYSTEM=="net", ACTION=="add", DRIVERS=="?*", ATTR{address}=="00:50:56:3f:00:12", ATTR{type}=="1", NAME="ens192"` + "\n",
		`ATTR{address}=="00:50:56:3f:00:13", ATTR{type}=="1", NAME="ens224"` + "\n",
	} {
		if !strings.Contains(r, want) {
			t.Errorf("rules lack %q:\n%s", want, r)
		}
	}
}
