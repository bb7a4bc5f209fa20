package reports

import (
	"fmt"
	"html"
	"html/template"
	"io"
	"math"
	"strings"
	"time"

	"github.com/podvm-migrate/podvm-migrate/internal/output"
	"github.com/podvm-migrate/podvm-migrate/plan"
	"github.com/podvm-migrate/podvm-migrate/runrecord"
)

// phaseColors gives every phase the same color in every chart.
var phaseColors = map[string]string{
	runrecord.PhaseDiscover: "#94a3b8", runrecord.PhasePlan: "#a78bfa", runrecord.PhaseQuiesce: "#64748b", runrecord.PhaseTransfer: "#3b82f6",
	runrecord.PhaseConvert: "#06b6d4", runrecord.PhasePackage: "#f59e0b", runrecord.PhaseBoot: "#f97316", runrecord.PhaseReady: "#22c55e",
}

var statusColors = map[string]string{
	"ready": "#16a34a", "warning": "#d97706", "blocked": "#dc2626", "failed": "#dc2626", "running": "#2563eb", "pending": "#64748b",
	"critical": "#dc2626", "info": "#2563eb", "passed": "#16a34a", "skipped": "#64748b",
}

func renderHTML(w io.Writer, r *Report) error {
	data := struct {
		*Report
		StatusBar, PhaseChart, ThroughputChart, RuleChart template.HTML
		WarmChart                                         template.HTML
		Remediation                                       map[string]string
		PhaseRows                                         []phaseRow
	}{
		Report:          r,
		StatusBar:       statusBar(r.Compatibility),
		PhaseChart:      phaseChart(r.Performance),
		ThroughputChart: throughputChart(r.Performance),
		RuleChart:       ruleChart(r.Compatibility),
		WarmChart:       warmChart(r.Performance.Warm),
		Remediation:     remediations(r),
	}
	for _, ph := range runrecord.Phases() {
		if s, ok := r.Performance.Phases[ph]; ok {
			data.PhaseRows = append(data.PhaseRows, phaseRow{ph, s})
		}
	}
	return page.Execute(w, data)
}

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"round": round, "human": output.Bytes, "ratio": ratio,
	"color": func(s any) string { return statusColors[fmt.Sprint(s)] },
	"phase": func(v VMPerf, ph string) string { return round(v.Phases[ph]) },
	"mbps":  func(f float64) string { return fmt.Sprintf("%.1f", f) },
	"time":  func(t time.Time) string { return t.Format("2006-01-02 15:04:05 MST") },
	"sev":   func(s plan.Severity) string { return string(s) },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
:root{--fg:#0f172a;--muted:#64748b;--line:#e2e8f0;--bg:#f8fafc}
*{box-sizing:border-box}body{margin:0;font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header{background:#0f172a;color:#fff;padding:24px 32px}header h1{margin:0;font-size:22px}header p{margin:4px 0 0;color:#cbd5e1}
main{max-width:1200px;margin:0 auto;padding:24px 32px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(170px,1fr));gap:12px;margin-bottom:24px}
.card{background:#fff;border:1px solid var(--line);border-radius:10px;padding:14px 16px}.card b{display:block;font-size:24px}.card span{color:var(--muted)}
section{background:#fff;border:1px solid var(--line);border-radius:10px;padding:18px 20px;margin-bottom:20px}
h2{margin:0 0 12px;font-size:17px}table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:6px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{color:var(--muted);font-weight:600;font-size:12px;text-transform:uppercase}td.num{text-align:right;font-variant-numeric:tabular-nums}
.pill{display:inline-block;padding:1px 8px;border-radius:999px;color:#fff;font-size:12px;font-weight:600}
.finding{margin:2px 0}.finding small{color:var(--muted)}.legend span{display:inline-block;margin-right:14px}.legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px}
svg text{font:12px system-ui,sans-serif;fill:#334155}.empty{color:var(--muted)}
</style></head><body>
<header><h1>{{.Title}}</h1><p>Generated {{time .Generated}}</p></header>
<main>
<div class="cards">
<div class="card"><b>{{len .Compatibility.VMs}}</b><span>VMs planned</span></div>
<div class="card"><b style="color:#16a34a">{{.Compatibility.Ready}}</b><span>ready</span></div>
<div class="card"><b style="color:#d97706">{{.Compatibility.Warning}}</b><span>with warnings</span></div>
<div class="card"><b style="color:#dc2626">{{.Compatibility.Blocked}}</b><span>blocked</span></div>
<div class="card"><b>{{.Performance.Migrated}}</b><span>migrated and ready</span></div>
<div class="card"><b>{{.Performance.Failed}}</b><span>failed</span></div>
<div class="card"><b>{{round .Performance.Wall}}</b><span>wall time</span></div>
<div class="card"><b>{{mbps .Performance.MBps}} MB/s</b><span>{{human .Performance.Bytes}} transferred (all transfers together)</span></div>
</div>

<section><h2>Compatibility</h2>{{.StatusBar}}
<table><thead><tr><th>VM</th><th>Pod VM</th><th>Status</th><th>Mode</th><th>Findings</th></tr></thead><tbody>
{{range .Compatibility.VMs}}<tr><td>{{.Name}}</td><td>{{.PodVM}}</td><td><span class="pill" style="background:{{color .Status}}">{{.Status}}</span></td><td>{{.Mode}}</td><td>
{{range .Findings}}<div class="finding"><span class="pill" style="background:{{color (sev .Severity)}}">{{.Severity}}</span> <b>{{.Rule}}</b>{{if .Overridden}} (allowed){{end}}: {{.Message}}</div>{{else}}<span class="empty">none</span>{{end}}
</td></tr>{{end}}
</tbody></table></section>

{{if .Compatibility.ByRule}}<section><h2>Findings by rule</h2>{{.RuleChart}}
<table><thead><tr><th>Rule</th><th>Severity</th><th>VMs</th><th>Remediation</th></tr></thead><tbody>
{{range .Compatibility.ByRule}}<tr><td><b>{{.Rule}}</b></td><td><span class="pill" style="background:{{color (sev .Severity)}}">{{.Severity}}</span></td><td class="num">{{.VMs}}</td><td>{{index $.Remediation .Rule}}</td></tr>{{end}}
</tbody></table></section>{{end}}

<section><h2>Performance per VM</h2>{{.PhaseChart}}
<table><thead><tr><th>VM</th><th>Status</th><th>Accel</th><th>Addresses</th><th>Transfer</th><th>Convert</th><th>Package</th><th>Boot to ready</th><th>Total</th><th>MB/s</th><th>Image / raw</th></tr></thead><tbody>
{{range .Performance.VMs}}<tr><td>{{.Name}}</td><td><span class="pill" style="background:{{color .Status}}">{{.Status}}</span>{{if .Error}}<div class="finding"><small>{{.Error}}</small></div>{{end}}</td><td>{{.Accel}}</td><td>{{range $i, $a := .Addresses}}{{if $i}} {{end}}{{$a}}{{else}}-{{end}}</td>
<td class="num">{{phase . "transfer"}}</td><td class="num">{{phase . "convert"}}</td><td class="num">{{phase . "package"}}</td><td class="num">{{round .BootToReady}}</td><td class="num">{{round .Total}}</td><td class="num">{{mbps .MBps}}</td><td class="num">{{ratio .Ratio}}</td></tr>
{{else}}<tr><td colspan="11" class="empty">No migration has run yet.</td></tr>{{end}}
</tbody></table></section>

{{with .Checks}}<section><h2>Post-migration checks</h2>
<table><thead><tr><th>VM</th><th>Check</th><th>Result</th><th>Probed</th><th>Attempts</th><th>Detail</th></tr></thead><tbody>
{{range .}}<tr><td>{{.VM}}</td><td><code>{{.Check}}</code></td><td><span class="pill" style="background:{{color .Outcome}}">{{.Outcome}}</span></td><td>{{.Target}}{{if .Address}}<div class="finding"><small>{{.Address}}</small></div>{{end}}</td><td class="num">{{.Attempts}}</td><td><small>{{.Detail}}</small></td></tr>{{end}}
</tbody></table></section>{{end}}

{{with .GuestConversions}}<section><h2>Guest conversion</h2>
<table><thead><tr><th>VM</th><th>Disk</th><th>Result</th><th>Seconds</th><th>Inspected</th><th>Removed</th><th>Initramfs modules</th><th>First boot</th><th>Warnings / reason</th></tr></thead><tbody>
{{range .}}<tr><td>{{.VM}}</td><td>{{.Disk}}</td><td>{{.Result}}</td><td class="num">{{.Seconds}}</td><td>{{.Inspected}}</td><td>{{.Removed}}</td><td>{{.InitramfsModules}}</td><td>{{.FirstBoot}}</td><td><small>{{.Note}}</small></td></tr>{{end}}
</tbody></table></section>{{end}}

{{with .Performance.Warm}}<section><h2>Warm migration</h2>{{$.WarmChart}}
<p class="legend"><span><i style="background:#3b82f6"></i>precopy round, source running</span><span><i style="background:#22c55e"></i>final round, source off</span></p>
<table><thead><tr><th>VM</th><th>Rounds</th><th>Bytes per round</th><th>Cutover</th><th>Shutdown</th><th>Downtime</th></tr></thead><tbody>
{{range .}}<tr><td>{{.Name}}</td><td class="num">{{len .Rounds}}</td><td>{{range $i, $r := .Rounds}}{{if $i}}, {{end}}{{$r.Round}}: {{human $r.Bytes}}{{if $r.Final}} (final){{end}}{{end}}</td><td>{{.CutoverReason}}</td><td>{{.Shutdown}}</td><td class="num">{{if .Ready}}{{round .Downtime}}{{else}}not ready{{end}}</td></tr>{{end}}
</tbody></table></section>{{end}}

<section><h2>Transfer throughput over time</h2>{{.ThroughputChart}}</section>

{{if .PhaseRows}}<section><h2>Phase durations over VMs</h2>
<table><thead><tr><th>Phase</th><th>VMs</th><th>p50</th><th>p90</th><th>p99</th><th>max</th><th>total</th></tr></thead><tbody>
{{range .PhaseRows}}<tr><td><i style="display:inline-block;width:10px;height:10px;background:{{.Color}}"></i> {{.Name}}</td><td class="num">{{.Count}}</td><td class="num">{{round .P50}}</td><td class="num">{{round .P90}}</td><td class="num">{{round .P99}}</td><td class="num">{{round .Max}}</td><td class="num">{{round .Total}}</td></tr>{{end}}
</tbody></table></section>{{end}}
</main></body></html>
`))

func statusBar(c Compatibility) template.HTML {
	total := c.Ready + c.Warning + c.Blocked
	if total == 0 {
		return `<p class="empty">No plan.</p>`
	}
	const w, h = 1000.0, 26.0
	var b strings.Builder
	fmt.Fprintf(&b, `<svg viewBox="0 0 %.0f %.0f" width="100%%" role="img" aria-label="VMs by status">`, w, h+22)
	x := 0.0
	for _, s := range []struct {
		name string
		n    int
	}{{"ready", c.Ready}, {"warning", c.Warning}, {"blocked", c.Blocked}} {
		if s.n == 0 {
			continue
		}
		bw := w * float64(s.n) / float64(total)
		fmt.Fprintf(&b, `<rect x="%.1f" y="0" width="%.1f" height="%.0f" fill="%s"><title>%s: %d</title></rect>`, x, bw, h, statusColors[s.name], s.name, s.n)
		if bw > 60 {
			fmt.Fprintf(&b, `<text x="%.1f" y="17" style="fill:#fff;font-weight:600">%s %d</text>`, x+8, s.name, s.n)
		}
		x += bw
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// phaseChart is a stacked horizontal bar per VM: one segment per phase.
func phaseChart(p Performance) template.HTML {
	if len(p.VMs) == 0 {
		return ""
	}
	var longest time.Duration
	for _, v := range p.VMs {
		longest = max(longest, v.Total)
	}
	if longest == 0 {
		return ""
	}
	const labelW, chartW, rowH = 160.0, 780.0, 22.0
	height := float64(len(p.VMs))*rowH + 40
	var b strings.Builder
	fmt.Fprintf(&b, `<svg viewBox="0 0 %.0f %.0f" width="100%%" role="img" aria-label="Phase durations per VM">`, labelW+chartW+60, height)
	for i, v := range p.VMs {
		y := float64(i) * rowH
		fmt.Fprintf(&b, `<text x="%.0f" y="%.1f" text-anchor="end">%s</text>`, labelW-8, y+15, html.EscapeString(v.Name))
		x := labelW
		for _, ph := range runrecord.Phases() {
			d := v.Phases[ph]
			if d == 0 {
				continue
			}
			bw := chartW * d.Seconds() / longest.Seconds()
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.0f" fill="%s"><title>%s %s: %s</title></rect>`,
				x, y+3, math.Max(bw, 0.5), rowH-6, phaseColors[ph], html.EscapeString(v.Name), ph, round(d))
			x += bw
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f">%s</text>`, x+6, y+15, round(v.Total))
	}
	y := float64(len(p.VMs))*rowH + 20
	x := labelW
	for _, ph := range runrecord.Phases() {
		if _, ok := p.Phases[ph]; !ok {
			continue // only the phases this run has
		}
		fmt.Fprintf(&b, `<rect x="%.0f" y="%.0f" width="10" height="10" fill="%s"/><text x="%.0f" y="%.0f">%s</text>`, x, y, phaseColors[ph], x+14, y+10, ph)
		x += 95
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// throughputChart is an area chart of transfer MB/s over the run.
func throughputChart(p Performance) template.HTML {
	if len(p.Throughput) < 2 {
		return `<p class="empty">No transfer measured.</p>`
	}
	const w, h, left, bottom = 1000.0, 220.0, 50.0, 24.0
	peak := 0.0
	for _, pt := range p.Throughput {
		peak = math.Max(peak, pt.V)
	}
	if peak == 0 {
		peak = 1
	}
	last := p.Throughput[len(p.Throughput)-1].T
	if last == 0 {
		last = 1
	}
	sx := func(t float64) float64 { return left + (w-left-10)*t/last }
	sy := func(v float64) float64 { return (h - bottom) - (h-bottom-28)*v/peak }
	var pts []string
	for _, pt := range p.Throughput {
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", sx(pt.T), sy(pt.V)))
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg viewBox="0 0 %.0f %.0f" width="100%%" role="img" aria-label="Transfer throughput over time">`, w, h)
	for i := 0; i <= 4; i++ {
		v := peak * float64(i) / 4
		fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#e2e8f0"/><text x="%.0f" y="%.1f" text-anchor="end">%.0f</text>`,
			left, w-10, sy(v), sy(v), left-6, sy(v)+4, v)
	}
	fmt.Fprintf(&b, `<polygon points="%.1f,%.1f %s %.1f,%.1f" fill="#3b82f633" stroke="none"/>`, sx(0), sy(0), strings.Join(pts, " "), sx(last), sy(0))
	fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="#2563eb" stroke-width="2"/>`, strings.Join(pts, " "))
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f">0 s</text><text x="%.0f" y="%.0f" text-anchor="end">%.1f s</text><text x="%.0f" y="12" text-anchor="end">MB/s</text>`,
		left, h-6, w-10, h-6, last, left-6)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// ruleChart is a horizontal bar per rule: how many VMs it fired for.
func ruleChart(c Compatibility) template.HTML {
	if len(c.ByRule) == 0 {
		return ""
	}
	most := 0
	for _, r := range c.ByRule {
		most = max(most, r.VMs)
	}
	const labelW, chartW, rowH = 220.0, 700.0, 20.0
	var b strings.Builder
	fmt.Fprintf(&b, `<svg viewBox="0 0 %.0f %.0f" width="100%%" role="img" aria-label="VMs per rule">`, labelW+chartW+50, float64(len(c.ByRule))*rowH+4)
	for i, r := range c.ByRule {
		y := float64(i) * rowH
		bw := chartW * float64(r.VMs) / float64(most)
		fmt.Fprintf(&b, `<text x="%.0f" y="%.1f" text-anchor="end">%s</text><rect x="%.0f" y="%.1f" width="%.1f" height="%.0f" fill="%s"/><text x="%.1f" y="%.1f">%d</text>`,
			labelW-8, y+14, html.EscapeString(r.Rule), labelW, y+3, bw, rowH-6, statusColors[string(r.Severity)], labelW+bw+6, y+14, r.VMs)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

type phaseRow struct {
	Name string
	Summary
}

// Color is the phase's color in the charts.
func (p phaseRow) Color() string { return phaseColors[p.Name] }
