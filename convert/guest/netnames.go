package guest

import (
	"bufio"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

// NetName pins one interface name to a MAC address in the converted guest.
type NetName struct {
	Name string `json:"name"` // the name the guest's network configuration uses, e.g. ens192
	MAC  string `json:"mac"`  // the NIC's MAC, kept from the source VM
}

// NetNamesRules is the udev rules file guest conversion writes: it names
// each NIC by its MAC as it was named on VMware, before systemd's
// predictable names (80-net-setup-link.rules) would rename it by its new
// virtio PCI slot. initramfs-tools copies it into the initramfs too.
const NetNamesRules = "/etc/udev/rules.d/70-podvm-net-names.rules"

// netConfigGlobs are the network configurations that refer to interfaces
// by name: ifupdown, netplan, NetworkManager keyfiles, systemd-networkd,
// RHEL's network-scripts.
var netConfigGlobs = []string{
	"/etc/network/interfaces",
	"/etc/network/interfaces.d/*",
	"/etc/netplan/*.yaml",
	"/etc/NetworkManager/system-connections/*",
	"/etc/systemd/network/*.network",
	"/etc/sysconfig/network-scripts/ifcfg-*",
}

// physicalName matches the names a kernel or udev gives a NIC (not a bond,
// bridge, VLAN or loopback): eth0, ens192, enp11s0, eno1, em1, p2p1.
var physicalName = regexp.MustCompile(`^(eth[0-9]+|ens[0-9]+(f[0-9]+)?|enp[0-9]+s[0-9]+(f[0-9]+)?|eno[0-9]+|em[0-9]+|p[0-9]+p[0-9]+)$`)

// ConfiguredNICNames returns the NIC names the guest's network
// configuration refers to, given the configuration files by path. Names
// already bound to a MAC in the same file (netplan match/macaddress, a
// keyfile's mac-address, networkd's MACAddress=, ifcfg's HWADDR) are left
// out: they need no pinning. VLANs and aliases count for their NIC.
func ConfiguredNICNames(files map[string]string) []string {
	seen := map[string]bool{}
	var out []string
	add := func(n string) {
		n, _, _ = strings.Cut(n, ":") // ens192:1 alias
		if i := strings.IndexByte(n, '.'); i > 0 {
			n = n[:i] // ens192.100 VLAN
		}
		if physicalName.MatchString(n) && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		text := files[p]
		switch {
		case strings.HasPrefix(p, "/etc/network/"):
			for _, n := range ifupdownNames(text) {
				add(n)
			}
		case strings.HasPrefix(p, "/etc/netplan/"):
			for _, n := range netplanNames(text) {
				add(n)
			}
		case strings.HasPrefix(p, "/etc/NetworkManager/"):
			kv := iniValues(text)
			if kv["ethernet.mac-address"] == "" {
				add(kv["connection.interface-name"])
			}
		case strings.HasPrefix(p, "/etc/systemd/network/"):
			kv := iniValues(text)
			if kv["match.macaddress"] == "" && kv["match.permanentmacaddress"] == "" {
				for _, n := range strings.Fields(kv["match.name"]) {
					add(n)
				}
			}
		case strings.HasPrefix(p, "/etc/sysconfig/network-scripts/"):
			kv := iniValues(text)
			if kv["hwaddr"] != "" || kv["macaddr"] != "" {
				continue
			}
			n := strings.Trim(kv["device"], `"'`)
			if n == "" {
				n = strings.TrimPrefix(path.Base(p), "ifcfg-")
			}
			add(n)
		}
	}
	return out
}

// ifupdownNames are the interfaces an /etc/network/interfaces file names
// in its iface, auto and allow-* stanzas.
func ifupdownNames(text string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch {
		case f[0] == "iface":
			out = append(out, f[1])
		case f[0] == "auto" || strings.HasPrefix(f[0], "allow-"):
			out = append(out, f[1:]...)
		}
	}
	return out
}

// netplanNames are the NICs a netplan file configures by name: the keys of
// ethernets (or their match.name), and the NICs its bonds, bridges and
// VLANs are built on.
func netplanNames(text string) []string {
	var doc struct {
		Network struct {
			Ethernets map[string]struct {
				Match struct {
					Name       string `json:"name"`
					MACAddress string `json:"macaddress"`
				} `json:"match"`
			} `json:"ethernets"`
			Bonds map[string]struct {
				Interfaces []string `json:"interfaces"`
			} `json:"bonds"`
			Bridges map[string]struct {
				Interfaces []string `json:"interfaces"`
			} `json:"bridges"`
			VLANs map[string]struct {
				Link string `json:"link"`
			} `json:"vlans"`
		} `json:"network"`
	}
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		return nil
	}
	n := doc.Network
	bound := map[string]bool{}
	var out []string
	for id, e := range n.Ethernets {
		switch {
		case e.Match.MACAddress != "":
			bound[id] = true
		case e.Match.Name != "":
			out = append(out, e.Match.Name)
		default:
			out = append(out, id)
		}
	}
	use := func(id string) {
		if !bound[id] {
			out = append(out, id)
		}
	}
	for _, b := range n.Bonds {
		for _, i := range b.Interfaces {
			use(i)
		}
	}
	for _, b := range n.Bridges {
		for _, i := range b.Interfaces {
			use(i)
		}
	}
	for _, v := range n.VLANs {
		use(v.Link)
	}
	sort.Strings(out)
	return out
}

// iniValues reads KEY=VALUE lines, as "section.key" (lower case) under
// [Section] headers and as "key" before any: keyfiles, .network files and
// ifcfg files alike. The first value of a key wins.
func iniValues(text string) map[string]string {
	kv := map[string]string{}
	section := ""
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
			continue
		case line[0] == '[' && strings.HasSuffix(line, "]"):
			section = strings.ToLower(strings.Trim(line, "[]")) + "."
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		k = section + strings.ToLower(strings.TrimSpace(k))
		if _, dup := kv[k]; !dup {
			kv[k] = strings.TrimSpace(v)
		}
	}
	return kv
}

var macAddress = regexp.MustCompile(`^([0-9a-f]{2}:){5}[0-9a-f]{2}$`)

// vmwareSlotOrder is the order VMware places NICs in PCI slots, so the
// order of their ens names: the first NIC is ens160 or ens192 (by virtual
// hardware version), then ens224, ens256, and the next ones behind the
// other bridges, ens161, ens193 and so on.
var vmwareSlotOrder = []int{160, 192, 224, 256, 161, 193, 225, 257, 162, 194, 226, 258}

// nameRank orders names the way the source VM's NICs are ordered: eth by
// number, VMware's ens slots in their order, enp by bus, then the rest.
func nameRank(n string) (int, int) {
	var a, b int
	switch {
	case strings.HasPrefix(n, "eth"):
		a, _ = strconv.Atoi(n[3:])
		return 0, a
	case strings.HasPrefix(n, "ens"):
		a, _ = strconv.Atoi(strings.SplitN(n[3:], "f", 2)[0])
		for i, s := range vmwareSlotOrder {
			if s == a {
				return 1, i
			}
		}
		return 1, len(vmwareSlotOrder) + a
	case strings.HasPrefix(n, "enp"):
		if _, err := fmt.Sscanf(n, "enp%ds%d", &a, &b); err == nil {
			return 2, a*1000 + b
		}
	}
	return 3, 0
}

// PinNICNames pairs the configured names with the VM's NIC MACs (in the
// order of its NICs): the names are put in the order VMware gives its NICs
// and the first name gets the first MAC. Names left over (more names than
// NICs, or a NIC without a valid MAC) are returned as unpinned.
func PinNICNames(names, macs []string) (pins []NetName, unpinned []string) {
	sorted := append([]string{}, names...)
	sort.SliceStable(sorted, func(i, j int) bool {
		ai, bi := nameRank(sorted[i])
		aj, bj := nameRank(sorted[j])
		if ai != aj {
			return ai < aj
		}
		if bi != bj {
			return bi < bj
		}
		return sorted[i] < sorted[j]
	})
	for i, n := range sorted {
		mac := ""
		if i < len(macs) {
			mac = strings.ToLower(strings.TrimSpace(macs[i]))
		}
		if !macAddress.MatchString(mac) {
			unpinned = append(unpinned, n)
			continue
		}
		pins = append(pins, NetName{Name: n, MAC: mac})
	}
	return pins, unpinned
}

// UdevNetRules renders the udev rules that give each MAC its name.
func UdevNetRules(pins []NetName) string {
	var b strings.Builder
	b.WriteString("# Written by podvm-migrate guest conversion: each NIC keeps the name its\n")
	b.WriteString("# network configuration uses on VMware, matched by its (kept) MAC address.\n")
	for _, p := range pins {
		fmt.Fprintf(&b, "SUBSYSTEM==\"net\", ACTION==\"add\", DRIVERS==\"?*\", ATTR{address}==\"%s\", ATTR{type}==\"1\", NAME=\"%s\"\n", p.MAC, p.Name)
	}
	return b.String()
}
