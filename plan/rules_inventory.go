package plan

func inventoryRules() []Rule {
	return []Rule{
		{
			ID: "discovery-warnings", Severity: SeverityWarning, Category: "inventory",
			Checks:      "discovery could not read everything about the VM (a missing disk, an ESXi path, an unknown encoding, an item skipped)",
			Remediation: "Read each warning: supply the missing files (--datastore-dir DS=DIR for ESXi paths) and discover again, or check the fields it names by hand.",
			check: func(c *checkContext) []hit {
				hits := make([]hit, 0, len(c.vm.Warnings))
				for _, w := range c.vm.Warnings {
					hits = append(hits, hit{msg: w})
				}
				return hits
			},
		},
	}
}
