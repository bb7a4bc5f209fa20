package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/podvm-migrate/podvm-migrate/discover"
	"github.com/podvm-migrate/podvm-migrate/internal/atomicfile"
	"github.com/podvm-migrate/podvm-migrate/internal/output"
	"github.com/podvm-migrate/podvm-migrate/plan"
)

func init() { register(newPlanCommand) }

// blockedError makes the command exit with exitBlocked.
type blockedError struct{ error }

type planFlags struct {
	vms, networkMaps, storageMaps, allow []string
	checks                               []string
	mappingFile, out, format, secureBoot string
	maxVCPUs                             int
	maxMemoryMiB                         int64
}

func newPlanCommand(g *globalOptions) *cobra.Command {
	f := &planFlags{}
	cmd := &cobra.Command{
		Use:   "plan INVENTORY",
		Short: "Check every VM's compatibility and plan the pod VM it becomes",
		Long: `Read an inventory (from 'podvm-migrate discover') and write a plan: for every
VM the pod VM spec it becomes (firmware, CPU topology, memory, disks, NICs with
their MACs, compatibility mode), the network and storage mappings used, and the
findings of every compatibility rule ('podvm-migrate plan rules' lists them).

A critical finding blocks its VM; --allow [VM:]RULE overrides one for a VM (or
all VMs without "VM:"), and the override is recorded in the plan. Without any
--network-map or --storage-map every network maps to the pod network and every
datastore to the default storage class; with some, unmapped ones are critical.
A network maps to pod (the pod network; user networking on the included
runtime), NAMESPACE/NAME (a Multus network on KubeVirt), or, on the included
runtime only, libvirt:NAME (a libvirt network) or bridge:NAME (a host bridge).

--check VMGLOB=CHECK (repeatable) gives matching VMs a post-migration check,
run by 'podvm-migrate migrate' once the pod VM is ready: tcp:PORT (the port
accepts connections), ping, or http(s)://[HOST][:PORT]/PATH[=STATUS] (the URL
answers with STATUS, 200 by default; an empty HOST is the pod VM, and its
certificate is then not verified). A failed check fails the VM. The checks are
written to the plan as each VM's 'checks:' list, which can also be edited there.

The plan is written as YAML (or JSON) to --out, atomically, or to stdout; a
summary table goes to stdout (stderr when the plan goes to stdout).

Exit codes: 0 every selected VM is ready (or has warnings only), 3 some are
blocked, 1 the plan could not be made, 2 bad usage.`,
		Example: `  podvm-migrate plan inventory.json --network-map "VM Network=pod" --storage-map "*=fast" --out plan.yaml
  podvm-migrate plan inventory.json --vm 'web*' --allow db01:rdm --out plan.yaml
  podvm-migrate plan inventory.json --check '*=tcp:22' --check 'web*=http://:8080/health=200' --out plan.yaml`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error { return runPlan(cmd, g, f, args[0]) },
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&f.vms, "vm", nil, "plan only this VM (name or glob; repeatable)")
	fl.StringArrayVar(&f.networkMaps, "network-map", nil, "map a source network: SRC=pod, SRC=NAMESPACE/NAME (Multus), SRC=libvirt:NAME or SRC=bridge:NAME (runtime only) (repeatable; SRC may be a glob)")
	fl.StringArrayVar(&f.storageMaps, "storage-map", nil, "map a datastore to a storage class: SRC=CLASS (repeatable; SRC may be a glob)")
	fl.StringVar(&f.mappingFile, "mapping-file", "", "YAML file with 'network:' and 'storage:' maps of SOURCE: TARGET")
	fl.StringArrayVar(&f.allow, "allow", nil, "override a critical rule: [VM:]RULE-ID (repeatable)")
	fl.StringArrayVar(&f.checks, "check", nil, "post-migration check for matching VMs: VMGLOB=tcp:PORT, VMGLOB=ping or VMGLOB=http(s)://[HOST][:PORT]/PATH[=STATUS] (repeatable)")
	fl.StringVar(&f.out, "out", "", "write the plan to this file (atomically) instead of stdout")
	fl.StringVar(&f.format, "format", "", "plan format: yaml or json (default: from --out's extension, else yaml)")
	fl.IntVar(&f.maxVCPUs, "max-vcpus", plan.DefaultTarget().MaxVCPUs, "most vCPUs the target gives one pod VM")
	fl.Int64Var(&f.maxMemoryMiB, "max-memory", plan.DefaultTarget().MaxMemoryMiB, "most memory (MiB) the target gives one pod VM")
	fl.StringVar(&f.secureBoot, "secure-boot-firmware", "auto", "does the target have OVMF secure-boot firmware: auto (look on this host), yes or no")
	cmd.AddCommand(newPlanRulesCommand(g))
	return cmd
}

func runPlan(cmd *cobra.Command, g *globalOptions, f *planFlags, invFile string) error {
	opts, err := f.options(invFile)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(invFile)
	if err != nil {
		return fmt.Errorf("read inventory: %w", err)
	}
	inv, err := discover.Unmarshal(data)
	if err != nil {
		return fmt.Errorf("%s: %w (make one with 'podvm-migrate discover -o json --out FILE')", invFile, err)
	}
	pl, err := plan.NewPlan(inv, opts)
	if err != nil {
		return usageError{err}
	}
	// On stdout the plan is the document -o names; the summary then goes to
	// stderr as a table.
	docFormat, summaryFormat := f.planFormat(), g.format
	if f.out == "" {
		if f.format == "" && (g.format == output.JSON || g.format == output.YAML) {
			docFormat = string(g.format)
		}
		summaryFormat = output.Table
	}
	doc, err := marshalPlan(pl, docFormat)
	if err != nil {
		return err
	}
	summaryTo := cmd.OutOrStdout()
	if f.out != "" {
		if err := atomicfile.WriteFile(f.out, doc, 0o644); err != nil {
			return err
		}
	} else {
		if _, err := cmd.OutOrStdout().Write(doc); err != nil {
			return err
		}
		summaryTo = cmd.ErrOrStderr()
	}
	if err := printPlanSummary(summaryTo, summaryFormat, pl); err != nil {
		return err
	}
	if s := pl.Summary; s.Blocked > 0 {
		return blockedError{fmt.Errorf("blocked: %d of %s: fix the critical findings or override them with --allow VM:RULE", s.Blocked, countVMs(s.VMs))}
	}
	return nil
}

func (f *planFlags) options(invFile string) (plan.Options, error) {
	o := plan.Options{VMs: f.vms, Inventory: filepath.Base(invFile), Allow: map[string][]string{}}
	if f.mappingFile != "" {
		m, err := plan.LoadMappings(f.mappingFile)
		if err != nil {
			return o, usageError{err}
		}
		o.Mappings = m
	}
	for _, s := range f.networkMaps {
		m, err := plan.ParseNetworkMapping(s)
		if err != nil {
			return o, usageError{fmt.Errorf("--network-map: %w", err)}
		}
		o.Mappings.Network = append(o.Mappings.Network, m)
	}
	for _, s := range f.storageMaps {
		m, err := plan.ParseMapping(s)
		if err != nil {
			return o, usageError{fmt.Errorf("--storage-map: %w", err)}
		}
		o.Mappings.Storage = append(o.Mappings.Storage, m)
	}
	for _, a := range f.allow {
		vm, rule := "*", a
		if i := strings.LastIndex(a, ":"); i >= 0 {
			vm, rule = a[:i], a[i+1:]
		}
		if vm == "" || rule == "" {
			return o, usageError{fmt.Errorf("--allow %q: want [VM:]RULE-ID", a)}
		}
		o.Allow[vm] = append(o.Allow[vm], rule)
	}
	for _, c := range f.checks {
		a, err := plan.ParseCheckAssignment(c)
		if err != nil {
			return o, usageError{fmt.Errorf("--check %w", err)}
		}
		o.Checks = append(o.Checks, a)
	}
	t := plan.Target{MaxVCPUs: f.maxVCPUs, MaxMemoryMiB: f.maxMemoryMiB}
	switch strings.ToLower(f.secureBoot) {
	case "auto":
		t.SecureBootFirmware = plan.HostSecureBootFirmware() != ""
	case "yes", "true":
		t.SecureBootFirmware = true
	case "no", "false":
	default:
		return o, usageError{fmt.Errorf("--secure-boot-firmware %q: want auto, yes or no", f.secureBoot)}
	}
	if t.MaxVCPUs < 1 || t.MaxMemoryMiB < 16 {
		return o, usageError{fmt.Errorf("--max-vcpus %d --max-memory %d: want at least 1 vCPU and 16 MiB", t.MaxVCPUs, t.MaxMemoryMiB)}
	}
	o.Target = &t
	if _, err := f.planFormatChecked(); err != nil {
		return o, usageError{err}
	}
	return o, nil
}

func (f *planFlags) planFormatChecked() (string, error) {
	switch p := f.planFormat(); p {
	case "yaml", "json":
		return p, nil
	default:
		return "", fmt.Errorf("--format %q: want yaml or json", f.format)
	}
}

func (f *planFlags) planFormat() string {
	if f.format != "" {
		return strings.ToLower(f.format)
	}
	if strings.HasSuffix(strings.ToLower(f.out), ".json") {
		return "json"
	}
	return "yaml"
}

func marshalPlan(p *plan.Plan, format string) ([]byte, error) {
	var buf strings.Builder
	if format == "json" {
		if err := output.Print(&buf, output.JSON, p); err != nil {
			return nil, err
		}
		return []byte(buf.String()), nil
	}
	return yaml.Marshal(p)
}

// planSummary is the table printed after planning.
type planSummary struct{ *plan.Plan }

func (s planSummary) Header() []string {
	return []string{"vm", "pod vm", "status", "mode", "critical", "warning", "info", "top finding"}
}

func (s planSummary) Rows() [][]string {
	var rows [][]string
	for _, vm := range s.VMs {
		n := map[plan.Severity]int{}
		top := ""
		for _, f := range vm.Findings {
			n[f.Severity]++
			if top == "" && f.Severity != plan.SeverityInfo {
				top = f.Rule
				if f.Overridden {
					top += " (allowed)"
				}
			}
		}
		rows = append(rows, []string{vm.Name, vm.Spec.Name, string(vm.Status), vm.Spec.Mode,
			fmt.Sprint(n[plan.SeverityCritical]), fmt.Sprint(n[plan.SeverityWarning]), fmt.Sprint(n[plan.SeverityInfo]), top})
	}
	return rows
}

func printPlanSummary(w io.Writer, f output.Format, p *plan.Plan) error {
	if f != output.Table {
		return output.Print(w, f, p.Summary)
	}
	if err := output.Print(w, output.Table, planSummary{p}); err != nil {
		return err
	}
	s := p.Summary
	fmt.Fprintf(w, "\n%s: %d ready, %d with warnings, %d blocked\n", countVMs(s.VMs), s.Ready, s.Warning, s.Blocked)
	if len(s.Rules) > 0 {
		fmt.Fprintln(w, "\nTop findings:")
		var rows [][]string
		for i, r := range s.Rules {
			if i == 10 {
				break
			}
			rows = append(rows, []string{r.Rule, string(r.Severity), fmt.Sprint(r.VMs)})
		}
		return output.WriteTable(w, []string{"rule", "severity", "vms"}, rows)
	}
	return nil
}

func newPlanRulesCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:         "rules",
		Annotations: map[string]string{outputDefault: "auto"},
		Short:       "List every compatibility rule: id, severity, what it checks, remediation",
		Example: `  podvm-migrate plan rules
  podvm-migrate plan rules -o json | jq -r '.[] | select(.severity == "critical") | .id'`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return output.Print(cmd.OutOrStdout(), g.format, ruleTable(plan.Rules()))
		},
	}
}

type ruleTable []plan.Rule

func (r ruleTable) Header() []string { return []string{"id", "severity", "category", "checks"} }
func (r ruleTable) Rows() [][]string {
	var rows [][]string
	for _, x := range r {
		rows = append(rows, []string{x.ID, string(x.Severity), x.Category, x.Checks})
	}
	return rows
}
