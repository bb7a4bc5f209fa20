package plan

import (
	"fmt"
	"strings"
)

func networkRules() []Rule {
	return []Rule{
		{
			ID: "network-unmapped", Severity: SeverityCritical, Category: "network",
			Checks:      "a NIC's network has no entry in the network map",
			Remediation: "Add --network-map 'NETWORK=pod' (or NAMESPACE/NAME for a Multus network; libvirt:NAME or bridge:NAME for the included runtime; '*' for all) or a network entry in the mapping file.",
			check: func(c *checkContext) []hit {
				var hits []hit
				for _, n := range c.vm.Hardware.NICs {
					if _, ok := lookup(c.opts.Mappings.Network, n.Network); !ok {
						hits = append(hits, hit{msg: fmt.Sprintf("network %q of NIC %s is not in the network map", n.Network, label(n.Label, n.MAC))})
					}
				}
				return hits
			},
		},
		{
			ID: "mac-duplicate", Severity: SeverityCritical, Category: "network",
			Checks:      "a MAC address is used by more than one NIC in the plan",
			Remediation: "Give one of the VMs a new MAC in vSphere (or plan them in separate batches on separate networks).",
			check: func(c *checkContext) []hit {
				var hits []hit
				for _, n := range c.vm.Hardware.NICs {
					if mac := strings.ToLower(n.MAC); mac != "" && c.macUses[mac] > 1 {
						hits = append(hits, hit{msg: fmt.Sprintf("MAC %s is used by %d NICs in this plan", mac, c.macUses[mac])})
					}
				}
				return hits
			},
		},
		{
			ID: "pod-network-nics", Severity: SeverityWarning, Category: "network",
			Checks:      "more than one NIC maps to the pod network",
			Remediation: "KubeVirt gives a VM one pod-network interface: map the other networks to Multus networks (NAMESPACE/NAME). The included runtime runs it as planned.",
			check: func(c *checkContext) []hit {
				n := 0
				for _, nic := range c.spec.NICs {
					if nic.Network == PodNetwork {
						n++
					}
				}
				if n > 1 {
					return fired("%d NICs map to the pod network; on KubeVirt only one can", n)
				}
				return nil
			},
		},
		{
			ID: "nic-disconnected", Severity: SeverityInfo, Category: "network",
			Checks:      "a NIC is not connected at power on",
			Remediation: "The pod VM's NIC is connected; disconnect it in the guest if it must stay off.",
			check: func(c *checkContext) []hit {
				var hits []hit
				for _, n := range c.vm.Hardware.NICs {
					if !n.StartConnected && !n.Connected {
						hits = append(hits, hit{msg: fmt.Sprintf("NIC %s is disconnected in vSphere", label(n.Label, n.MAC))})
					}
				}
				return hits
			},
		},
	}
}
