package plan

import (
	"slices"
	"strings"

	"github.com/podvm-migrate/podvm-migrate/checks"
)

// checkRules look at the post-migration checks given to a VM (--check):
// ones that cannot work where the VM lands.
func checkRules() []Rule {
	return []Rule{
		{
			ID: "check-unreachable", Severity: SeverityWarning, Category: "checks",
			Checks:      "a VM has post-migration checks but no NIC, so nothing can reach its pod VM",
			Remediation: "Give the VM a NIC in vSphere, or drop its checks (--check, or 'checks:' in the plan): as planned they fail and so fail the VM.",
			check: func(c *checkContext) []hit {
				if cs := checksFor(c.opts.Checks, c.vm.Name); len(cs) > 0 && len(c.spec.NICs) == 0 {
					return fired("%d post-migration checks (%s), but the VM has no NIC", len(cs), strings.Join(cs, ", "))
				}
				return nil
			},
		},
		{
			ID: "check-ping-user-network", Severity: SeverityInfo, Category: "checks",
			Checks:      "a ping check on a VM whose first NIC lands on user networking on the included runtime",
			Remediation: "On the included runtime, map the network to libvirt:NAME or bridge:NAME to ping the pod VM; on user networking the ping check is reported as skipped, not passed. KubeVirt's pod network answers ping.",
			check: func(c *checkContext) []hit {
				if len(c.spec.NICs) == 0 || !slices.Contains(checksFor(c.opts.Checks, c.vm.Name), checks.KindPing) {
					return nil
				}
				if n := c.spec.NICs[0]; !strings.HasPrefix(n.Network, "libvirt:") && !strings.HasPrefix(n.Network, "bridge:") {
					return fired("NIC %s maps to network %q, user networking on the included runtime: QEMU's slirp carries no ICMP, so the ping check will be skipped there", n.Name, n.Network)
				}
				return nil
			},
		},
	}
}
