package plan

import (
	"fmt"
	"strings"

	"github.com/podvm-migrate/podvm-migrate/podvm"

	"github.com/podvm-migrate/podvm-migrate/discover"
)

// Free space guest conversion needs: virt-v2v installs drivers and rebuilds
// the initramfs (Linux) or stages drivers (Windows).
var minFree = map[string]int64{
	"/":     200 << 20,
	"/boot": 50 << 20,
	"c:\\":  1 << 30,
}

func guestRules() []Rule {
	return []Rule{
		{
			ID: "guest-os-unsupported", Severity: SeverityCritical, Category: "guest",
			Checks:      "the guest OS cannot run on KVM, or is unknown, or needs compatibility mode",
			Remediation: "Unsupported: keep it on VMware or rebuild it. Unknown: check the guest id in vSphere. Compat mode: add virtio drivers (Windows: virtio-win) and re-plan in virtio mode for speed.",
			check: func(c *checkContext) []hit {
				os := LookupGuestOS(c.vm.Guest.GuestID)
				id := orUnknown(c.vm.Guest.GuestID)
				switch os.Support {
				case SupportUnsupported:
					return fired("guest OS %s does not run on KVM", id)
				case SupportUnknown:
					return []hit{{msg: fmt.Sprintf("guest OS %s is not in the support table; planned in compat mode (SATA, e1000e)", id), severity: SeverityWarning}}
				case SupportCompat:
					return []hit{{msg: fmt.Sprintf("guest OS %s has no virtio drivers in the box; planned in compat mode (SATA, e1000e)", id), severity: SeverityInfo}}
				}
				return nil
			},
		},
		{
			ID: "tools-not-running", Severity: SeverityWarning, Category: "guest",
			Checks:      "VMware Tools are not running in a powered-on VM",
			Remediation: "Start or install VMware Tools: without them guest facts (IPs, free space, hostname) are unknown and shutdown is not graceful.",
			check: func(c *checkContext) []hit {
				g := c.vm.Guest
				if c.vm.State.Power == discover.PoweredOn && (g.ToolsRunningStatus == "guestToolsNotRunning" || g.ToolsStatus == "toolsNotRunning" || g.ToolsStatus == "toolsNotInstalled") {
					return fired("VMware Tools are %s", orUnknown(firstNonEmpty(g.ToolsStatus, g.ToolsRunningStatus)))
				}
				return nil
			},
		},
		{
			ID: "hostname-default", Severity: SeverityWarning, Category: "guest",
			Checks:      "the guest host name is empty or a distribution default",
			Remediation: "Set a real host name in the guest: a pod VM is found by name, and defaults collide.",
			check: func(c *checkContext) []hit {
				if c.vm.State.Power != discover.PoweredOn && c.vm.Guest.Hostname == "" {
					return nil // tools report nothing for a VM that is off
				}
				h := strings.ToLower(c.vm.Guest.Hostname)
				switch h {
				case "":
					return fired("the guest reports no host name")
				case "localhost", "localhost.localdomain", "ubuntu", "debian", "centos", "fedora", "rhel", "rocky", "almalinux", "photon":
					return fired("host name %q is a default", c.vm.Guest.Hostname)
				}
				// Windows names itself WIN-XXXXXXX, DESKTOP-XXXXXXX or MININT-XXXXXXX.
				for _, p := range []string{"win-", "desktop-", "minint-"} {
					if strings.HasPrefix(h, p) {
						return fired("host name %q is one Windows generated", c.vm.Guest.Hostname)
					}
				}
				return nil
			},
		},
		{
			ID: "ip-missing", Severity: SeverityWarning, Category: "guest",
			Checks:      "a powered-on VM reports no IP address",
			Remediation: "Without an address, reachability after migration cannot be checked; start VMware Tools or note the address by hand.",
			check: func(c *checkContext) []hit {
				if c.vm.State.Power == discover.PoweredOn && len(c.vm.Guest.IPAddresses) == 0 && len(c.vm.Hardware.NICs) > 0 {
					return fired("no IP address reported")
				}
				return nil
			},
		},
		{
			ID: "guest-free-space-low", Severity: SeverityWarning, Category: "guest",
			Checks:      "/, /boot or C:\\ has less free space than guest conversion needs",
			Remediation: "Free space in the guest (/ 200 MiB, /boot 50 MiB, C:\\ 1 GiB) before migrating, or skip guest conversion.",
			check: func(c *checkContext) []hit {
				var hits []hit
				for _, d := range c.vm.Guest.Disks {
					need, ok := minFree[strings.ToLower(d.Path)]
					if !ok && strings.EqualFold(d.Path, "c:") {
						need, ok = minFree["c:\\"], true
					}
					if ok && d.FreeBytes < need {
						hits = append(hits, hit{msg: fmt.Sprintf("%s has %d MiB free, under the %d MiB guest conversion needs", d.Path, d.FreeBytes>>20, need>>20)})
					}
				}
				return hits
			},
		},
		{
			ID: "name-not-dns1123", Severity: SeverityInfo, Category: "guest",
			Checks:      "the VM name is not a valid Kubernetes (DNS-1123) name",
			Remediation: "Nothing to do: the pod VM gets the name shown. Rename the VM in vSphere first if you want another.",
			check: func(c *checkContext) []hit {
				if !podvm.IsDNS1123Label(c.vm.Name) {
					return fired("VM name %q is not a DNS-1123 label; the pod VM is named %q", c.vm.Name, c.spec.Name)
				}
				return nil
			},
		},
	}
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
