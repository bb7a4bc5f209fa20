package reports

import (
	"fmt"
	"html"
	"html/template"
	"sort"
	"strings"
	"time"

	"github.com/podvm-migrate/podvm-migrate/internal/output"
	"github.com/podvm-migrate/podvm-migrate/runrecord"
)

// WarmVM is one VM's warm migration: its precopy rounds and its downtime.
type WarmVM struct {
	Name string `json:"name"`
	// Ready says whether the pod VM became ready after the cutover; only
	// then is Downtime known.
	Ready bool `json:"ready"`
	// Downtime runs from the source's shutdown at cutover to the pod VM
	// ready; 0 while the VM is not ready.
	Downtime        time.Duration `json:"downtimeNs"`
	DowntimeSeconds float64       `json:"downtimeSeconds"`
	CutoverReason   string        `json:"cutoverReason,omitempty"` // rounds, time, request, resume
	Shutdown        string        `json:"shutdown,omitempty"`      // guest shut down, powered off
	// The cutover's parts: the shutdown, the final round, and the disks'
	// checksums and guest conversion; then package, boot and ready follow.
	ShutdownTime time.Duration `json:"shutdownNs,omitempty"`
	FinalTime    time.Duration `json:"finalNs,omitempty"`
	FinishTime   time.Duration `json:"finishNs,omitempty"`
	Rounds       []WarmRound   `json:"rounds"`
}

// WarmRound is one precopy round of a VM, its disks together.
type WarmRound struct {
	Round    int           `json:"round"`
	Bytes    int64         `json:"bytes"` // changed bytes copied
	Duration time.Duration `json:"durationNs"`
	Final    bool          `json:"final,omitempty"` // the cutover's round, with the source off
	Restart  bool          `json:"restart,omitempty"`
}

// warm gathers the warm migrations of a run: the last record of each
// disk's round, the last cutover and the last readiness of each VM.
func warm(events []runrecord.Event) []WarmVM {
	type roundKey struct {
		vm, disk string
		round    int
	}
	rounds := map[roundKey]runrecord.Event{}
	cutovers := map[string]runrecord.Event{}
	ready := map[string]time.Time{}
	var order []string
	seen := map[string]bool{}
	for _, e := range events {
		if e.Result != runrecord.ResultDone {
			continue
		}
		switch {
		case e.Phase == runrecord.PhasePrecopy && e.Precopy != nil:
			rounds[roundKey{e.VM, e.Disk, e.Precopy.Round}] = e
		case e.Phase == runrecord.PhaseCutover && e.Cutover != nil:
			cutovers[e.VM] = e
		case e.Phase == runrecord.PhaseReady:
			ready[e.VM] = e.Time
			continue
		default:
			continue
		}
		if !seen[e.VM] {
			seen[e.VM] = true
			order = append(order, e.VM)
		}
	}
	var out []WarmVM
	for _, name := range order {
		w := WarmVM{Name: name}
		byRound := map[int]*WarmRound{}
		for k, e := range rounds {
			if k.vm != name {
				continue
			}
			r, ok := byRound[k.round]
			if !ok {
				r = &WarmRound{Round: k.round}
				byRound[k.round] = r
			}
			r.Bytes += e.Bytes
			r.Duration += e.Duration
			r.Final = r.Final || e.Precopy.Final
			r.Restart = r.Restart || e.Precopy.Restart != ""
		}
		for _, r := range byRound {
			w.Rounds = append(w.Rounds, *r)
		}
		sort.Slice(w.Rounds, func(i, j int) bool { return w.Rounds[i].Round < w.Rounds[j].Round })
		if c, ok := cutovers[name]; ok {
			w.CutoverReason, w.Shutdown = c.Cutover.Reason, c.Cutover.Shutdown
			w.ShutdownTime, w.FinalTime, w.FinishTime = c.Cutover.ShutdownTime, c.Cutover.FinalTime, c.Cutover.FinishTime
			if t, ok := ready[name]; ok && t.After(c.Cutover.ShutdownAt) {
				w.Ready, w.Downtime = true, t.Sub(c.Cutover.ShutdownAt)
				w.DowntimeSeconds = w.Downtime.Seconds()
			}
		}
		out = append(out, w)
	}
	return out
}

// warmMarkdown is the Markdown section of the warm migrations.
func warmMarkdown(ws []WarmVM) string {
	if len(ws) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("\n### Warm migration\n\n| VM | Rounds | Bytes per round | Cutover | Shutdown | Downtime |\n|---|---|---|---|---|---|\n")
	for _, w := range ws {
		var per []string
		for _, r := range w.Rounds {
			s := fmt.Sprintf("%d: %s", r.Round, output.Bytes(r.Bytes))
			if r.Final {
				s += " (final)"
			}
			per = append(per, s)
		}
		down := round(w.Downtime)
		if !w.Ready {
			down = "not ready"
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %s |\n", md(w.Name), len(w.Rounds), md(strings.Join(per, ", ")), md(w.CutoverReason), md(w.Shutdown), down)
	}
	return b.String()
}

// warmChart is a bar per precopy round of each VM, its height the bytes
// the round copied; the cutover's final round in the ready color.
func warmChart(ws []WarmVM) template.HTML {
	var most int64
	n := 0
	for _, w := range ws {
		for _, r := range w.Rounds {
			most = max(most, r.Bytes)
			n++
		}
	}
	if n == 0 {
		return `<p class="empty">No precopy round measured.</p>`
	}
	if most == 0 {
		most = 1
	}
	const h, left, bottom, barW, gap, groupGap = 200.0, 70.0, 40.0, 26.0, 6.0, 30.0
	width := left + float64(n)*(barW+gap) + float64(len(ws))*groupGap + 20
	sy := func(v int64) float64 { return (h - bottom) - (h-bottom-20)*float64(v)/float64(most) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg viewBox="0 0 %.0f %.0f" width="100%%" role="img" aria-label="Bytes per precopy round">`, max(width, 600), h)
	for i := 0; i <= 4; i++ {
		v := most * int64(i) / 4
		fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#e2e8f0"/><text x="%.0f" y="%.1f" text-anchor="end">%s</text>`,
			left, max(width, 600)-10, sy(v), sy(v), left-6, sy(v)+4, output.Bytes(v))
	}
	x := left + 10
	for _, w := range ws {
		start := x
		for _, r := range w.Rounds {
			color := phaseColors[runrecord.PhaseTransfer]
			if r.Final {
				color = phaseColors[runrecord.PhaseReady]
			}
			y := sy(r.Bytes)
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.0f" height="%.1f" fill="%s"><title>%s round %d: %s in %s</title></rect><text x="%.1f" y="%.0f" text-anchor="middle">%d</text>`,
				x, y, barW, max(h-bottom-y, 0.5), color, html.EscapeString(w.Name), r.Round, output.Bytes(r.Bytes), round(r.Duration), x+barW/2, h-bottom+14, r.Round)
			x += barW + gap
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="middle">%s</text>`, (start+x-gap)/2, h-6, html.EscapeString(w.Name))
		x += groupGap
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// downtimes finds, per VM, the time from the last shutdown of its source
// that the run did (a cutover, or a quiesce that shut it down) to the
// readiness of its pod VM after it.
func downtimes(events []runrecord.Event) map[string]time.Duration {
	down := map[string]time.Time{}
	out := map[string]time.Duration{}
	for _, e := range events {
		if e.VM == "" || e.Result != runrecord.ResultDone {
			continue
		}
		switch e.Phase {
		case runrecord.PhaseCutover:
			if e.Cutover != nil {
				down[e.VM] = e.Cutover.ShutdownAt
			}
		case runrecord.PhaseQuiesce:
			if a := e.Attrs["action"]; a != "" && !strings.HasPrefix(a, "already") && !strings.HasPrefix(a, "no ") {
				down[e.VM] = e.Time.Add(-e.Duration)
			}
		case runrecord.PhaseReady:
			if t, ok := down[e.VM]; ok && e.Time.After(t) {
				out[e.VM] = e.Time.Sub(t)
			}
		}
	}
	return out
}
