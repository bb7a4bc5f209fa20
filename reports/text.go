package reports

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/podvm-migrate/podvm-migrate/internal/output"
	"github.com/podvm-migrate/podvm-migrate/runrecord"
)

// Formats a report can be rendered in.
const (
	FormatHTML     = "html"
	FormatMarkdown = "md"
	FormatJSON     = "json"
	FormatCSV      = "csv"
)

// Render writes r in format.
func Render(w io.Writer, r *Report, format string) error {
	switch format {
	case FormatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	case FormatMarkdown:
		return renderMarkdown(w, r)
	case FormatCSV:
		return renderCSV(w, r)
	case FormatHTML:
		return renderHTML(w, r)
	}
	return fmt.Errorf("report format %q: want html, md, json or csv", format)
}

func renderMarkdown(w io.Writer, r *Report) error {
	var b strings.Builder
	c, p := r.Compatibility, r.Performance
	fmt.Fprintf(&b, "# %s\n\nGenerated %s.\n\n", r.Title, r.Generated.Format(time.RFC3339))
	fmt.Fprintf(&b, "## Summary\n\n| | |\n|---|---|\n")
	fmt.Fprintf(&b, "| VMs planned | %d (%d ready, %d with warnings, %d blocked) |\n", len(c.VMs), c.Ready, c.Warning, c.Blocked)
	fmt.Fprintf(&b, "| VMs migrated | %d of %d run (%d failed) |\n", p.Migrated, len(p.VMs), p.Failed)
	fmt.Fprintf(&b, "| Wall time | %s |\n| Transferred | %s at %.1f MB/s (one transfer averaged %.1f MB/s) |\n\n", round(p.Wall), output.Bytes(p.Bytes), p.MBps, p.MBpsPerTransfer)

	b.WriteString("## Compatibility\n\n| VM | Pod VM | Status | Mode | Findings |\n|---|---|---|---|---|\n")
	for _, vm := range c.VMs {
		var fs []string
		for _, f := range vm.Findings {
			s := fmt.Sprintf("**%s** %s: %s", f.Severity, md(f.Rule), md(f.Message))
			if f.Overridden {
				s += " (allowed)"
			}
			fs = append(fs, s)
		}
		// Escaped first, so the only markup in the cell is the line breaks.
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", md(vm.Name), md(vm.PodVM), vm.Status, md(vm.Mode), strings.Join(fs, "<br>"))
	}
	if len(c.ByRule) > 0 {
		b.WriteString("\n### Findings by rule\n\n| Rule | Severity | VMs | Remediation |\n|---|---|---|---|\n")
		rem := remediations(r)
		for _, rc := range c.ByRule {
			fmt.Fprintf(&b, "| %s | %s | %d | %s |\n", md(rc.Rule), rc.Severity, rc.VMs, md(rem[rc.Rule]))
		}
	}
	b.WriteString("\n## Performance\n\n| VM | Status | Accel | Addresses | Transfer | Convert | Package | Boot to ready | Total | MB/s | Image/raw |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, v := range p.VMs {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %.1f | %s |\n", md(v.Name), md(statusText(v)), md(v.Accel), md(addresses(v)),
			round(v.Phases[runrecord.PhaseTransfer]), round(v.Phases[runrecord.PhaseConvert]), round(v.Phases[runrecord.PhasePackage]),
			round(v.BootToReady), round(v.Total), v.MBps, ratio(v.Ratio))
	}
	if cs := r.Checks(); len(cs) > 0 {
		b.WriteString("\n### Post-migration checks\n\n| VM | Check | Result | Probed | Attempts | Detail |\n|---|---|---|---|---|---|\n")
		for _, c := range cs {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %d | %s |\n", md(c.VM), md(c.Check), md(c.Outcome), md(c.Target), c.Attempts, md(c.Detail))
		}
	}
	if gs := r.GuestConversions(); len(gs) > 0 {
		b.WriteString("\n### Guest conversion\n\n| VM | Disk | Result | Seconds | Inspected | Removed | Initramfs modules | First boot | Warnings / reason |\n|---|---|---|---|---|---|---|---|---|\n")
		for _, g := range gs {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", md(g.VM), md(g.Disk), md(g.Result), md(g.Seconds), md(g.Inspected),
				md(g.Removed), md(g.InitramfsModules), md(g.FirstBoot), md(g.Note()))
		}
	}
	b.WriteString(warmMarkdown(p.Warm))
	if len(p.Phases) > 0 {
		b.WriteString("\n### Phase durations over VMs\n\n| Phase | VMs | p50 | p90 | p99 | max |\n|---|---|---|---|---|---|\n")
		for _, ph := range runrecord.Phases() {
			if s, ok := p.Phases[ph]; ok {
				fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %s |\n", ph, s.Count, round(s.P50), round(s.P90), round(s.P99), round(s.Max))
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// renderCSV writes one row per VM: compatibility and performance side by side.
func renderCSV(w io.Writer, r *Report) error {
	cw := csv.NewWriter(w)
	header := []string{"vm", "pod_vm", "plan_status", "mode", "critical", "warning", "info", "rules", "run_status", "accel", "addresses"}
	for _, ph := range runrecord.Phases() {
		header = append(header, ph+"_seconds")
	}
	header = append(header, "total_seconds", "bytes", "mbps", "image_bytes", "raw_bytes", "downtime_seconds", "error")
	if err := cw.Write(header); err != nil {
		return err
	}
	perf := map[string]VMPerf{}
	for _, v := range r.Performance.VMs {
		perf[v.Name] = v
	}
	rows := map[string]bool{}
	write := func(vc VMCompat) error {
		n := map[string]int{}
		var rules []string
		for _, f := range vc.Findings {
			n[string(f.Severity)]++
			rules = append(rules, f.Rule)
		}
		v, ok := perf[vc.PodVM]
		if !ok {
			v = perf[vc.Name]
		}
		rows[v.Name] = true
		rec := []string{vc.Name, vc.PodVM, string(vc.Status), vc.Mode, fmt.Sprint(n["critical"]), fmt.Sprint(n["warning"]), fmt.Sprint(n["info"]),
			strings.Join(rules, " "), statusText(v), v.Accel, strings.Join(v.Addresses, " ")}
		for _, ph := range runrecord.Phases() {
			rec = append(rec, seconds(v.Phases[ph]))
		}
		rec = append(rec, seconds(v.Total), fmt.Sprint(v.Bytes), fmt.Sprintf("%.2f", v.MBps), fmt.Sprint(v.ImageBytes), fmt.Sprint(v.RawBytes),
			seconds(v.Downtime), v.Error)
		return cw.Write(csvSafe(rec))
	}
	for _, vc := range r.Compatibility.VMs {
		if err := write(vc); err != nil {
			return err
		}
	}
	for _, v := range r.Performance.VMs {
		if !rows[v.Name] {
			if err := write(VMCompat{Name: v.Name, PodVM: v.Name}); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

func remediations(r *Report) map[string]string {
	out := map[string]string{}
	for _, vm := range r.Compatibility.VMs {
		for _, f := range vm.Findings {
			out[f.Rule] = f.Remediation
		}
	}
	return out
}

func statusText(v VMPerf) string {
	if v.Status == "" {
		return "not run"
	}
	return v.Status
}

func seconds(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return fmt.Sprintf("%.3f", d.Seconds())
}

func round(d time.Duration) string {
	switch {
	case d == 0:
		return "–"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}

func ratio(r float64) string {
	if r == 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f%%", r*100)
}

// md makes text safe in a Markdown table cell: no cell breaks, no line
// breaks, and no HTML (renderers pass HTML through): a backslash makes
// "<" and "&" plain characters, which still read as such in the file
// ("Snapshots > Consolidate" needs nothing: ">" opens no markup there).
func md(s string) string {
	return strings.NewReplacer("\\", "\\\\", "|", "\\|", "\r", " ", "\n", " ",
		"&", "\\&", "<", "\\<").Replace(s)
}

// csvSafe keeps spreadsheets from running cells as formulas: a cell that
// starts with = + - @ (a VM name, an error) gets a leading quote.
func csvSafe(rec []string) []string {
	for i, c := range rec {
		if c != "" && strings.ContainsRune("=+-@", rune(c[0])) {
			rec[i] = "'" + c
		}
	}
	return rec
}

// addresses is a VM's IP addresses for a table cell, "-" for none.
func addresses(v VMPerf) string {
	if len(v.Addresses) == 0 {
		return "-"
	}
	return strings.Join(v.Addresses, " ")
}
