package plan

import (
	"github.com/podvm-migrate/podvm-migrate/discover"
)

func placementRules() []Rule {
	return []Rule{
		{
			ID: "cpu-affinity", Severity: SeverityWarning, Category: "placement",
			Checks:      "the VM is pinned to physical CPUs",
			Remediation: "Affinity is not carried over; use KubeVirt dedicated CPUs (dedicatedCpuPlacement) if the workload needs pinning.",
			check: func(c *checkContext) []hit {
				if len(c.vm.State.CPUAffinity) > 0 {
					return fired("pinned to host CPUs %v", c.vm.State.CPUAffinity)
				}
				return nil
			},
		},
		{
			ID: "numa-affinity", Severity: SeverityWarning, Category: "placement",
			Checks:      "the VM is pinned to host NUMA nodes",
			Remediation: "NUMA pinning is not carried over; use KubeVirt guestMappingPassthrough with dedicated CPUs if it matters.",
			check: func(c *checkContext) []hit {
				if len(c.vm.State.NUMAAffinity) > 0 {
					return fired("pinned to host NUMA nodes %v", c.vm.State.NUMAAffinity)
				}
				return nil
			},
		},
		{
			ID: "host-affinity", Severity: SeverityWarning, Category: "placement",
			Checks:      "a DRS rule or a local device binds the VM to hosts",
			Remediation: "Express the constraint as node affinity on the target, or drop it.",
			check: func(c *checkContext) []hit {
				if len(c.vm.State.HostAffinity) > 0 {
					return fired("bound to hosts %v", c.vm.State.HostAffinity)
				}
				return nil
			},
		},
		{
			ID: "cluster-services", Severity: SeverityInfo, Category: "placement",
			Checks:      "the VM's cluster runs DRS, HA or DPM",
			Remediation: "Plan the equivalent on the target: scheduling (DRS), a run strategy of Always for restarts (HA); DPM has none.",
			check: func(c *checkContext) []hit {
				cl := c.vm.State.Cluster
				if cl == nil || !(cl.DRS || cl.HA || cl.DPM) {
					return nil
				}
				var on []string
				for _, s := range []struct {
					name string
					on   bool
				}{{"DRS", cl.DRS}, {"HA", cl.HA}, {"DPM", cl.DPM}} {
					if s.on {
						on = append(on, s.name)
					}
				}
				return fired("the cluster runs %v, which the pod VM platform replaces", on)
			},
		},
		{
			ID: "vm-not-connected", Severity: SeverityCritical, Category: "placement",
			Checks:      "vCenter cannot reach the VM (disconnected, orphaned, inaccessible or invalid)",
			Remediation: "Fix the host connection or re-register the VM in vCenter, then discover again.",
			check: func(c *checkContext) []hit {
				if s := c.vm.State.ConnectionState; s != "" && s != "connected" {
					return fired("connection state is %s", s)
				}
				return nil
			},
		},
		{
			ID: "template", Severity: SeverityCritical, Category: "placement",
			Checks:      "the VM is a vSphere template",
			Remediation: "Convert the template to a VM (or deploy one from it) and migrate that, or import the template as an image instead.",
			check: func(c *checkContext) []hit {
				if c.vm.Identity.Template {
					return fired("the VM is a template and cannot run")
				}
				return nil
			},
		},
		{
			ID: "suspended", Severity: SeverityWarning, Category: "placement",
			Checks:      "the VM is suspended",
			Remediation: "Resume and shut the VM down cleanly first: its suspended memory state is not migrated.",
			check: func(c *checkContext) []hit {
				if c.vm.State.Power == discover.Suspended {
					return fired("the VM is suspended; its memory state is lost in the migration")
				}
				return nil
			},
		},
		{
			ID: "powered-on", Severity: SeverityWarning, Category: "placement",
			Checks:      "the VM is powered on, so a cold copy reads disks the guest is still writing",
			Remediation: "Migrate with --source-power-off (migrate shuts the guest down, then copies) or --warm (copies while it runs, then a short cutover), or shut the VM down before migrating.",
			check: func(c *checkContext) []hit {
				if c.vm.State.Power == discover.PoweredOn {
					return fired("powered on: a cold copy is crash-inconsistent; use --source-power-off or --warm")
				}
				return nil
			},
		},
	}
}
