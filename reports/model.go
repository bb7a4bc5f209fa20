// Package reports renders compatibility and performance reports of a
// migration run from its plan and its run record, as JSON, Markdown, CSV
// and a self-contained HTML page with inline SVG charts.
package reports

import (
	"math"
	"sort"
	"strings"
	"time"

	"github.com/podvm-migrate/podvm-migrate/plan"
	"github.com/podvm-migrate/podvm-migrate/runrecord"
)

// Report is everything a report shows; every format renders this.
type Report struct {
	Title         string        `json:"title"`
	Generated     time.Time     `json:"generated"`
	Compatibility Compatibility `json:"compatibility"`
	Performance   Performance   `json:"performance"`
}

// Compatibility is the plan's verdict per VM and in total.
type Compatibility struct {
	VMs        []VMCompat       `json:"vms"`
	Ready      int              `json:"ready"`
	Warning    int              `json:"warning"`
	Blocked    int              `json:"blocked"`
	ByRule     []plan.RuleCount `json:"byRule,omitempty"`
	BySeverity map[string]int   `json:"bySeverity"` // findings per severity
}

// VMCompat is one VM's compatibility.
type VMCompat struct {
	Name     string         `json:"name"`
	PodVM    string         `json:"podVM"`
	Status   plan.Status    `json:"status"`
	Mode     string         `json:"mode"`
	Findings []plan.Finding `json:"findings,omitempty"`
}

// Performance is what the run measured.
type Performance struct {
	Started  time.Time     `json:"started,omitempty"`
	Finished time.Time     `json:"finished,omitempty"`
	Wall     time.Duration `json:"wallNs"`
	VMs      []VMPerf      `json:"vms"`
	Migrated int           `json:"migrated"` // reached ready
	Failed   int           `json:"failed"`
	Bytes    int64         `json:"bytes"` // transferred
	MBps     float64       `json:"mbps"`  // aggregate: Bytes over the time any transfer ran, MB/s
	// MBpsPerTransfer is the average rate of one transfer: Bytes over the
	// summed transfer times.
	MBpsPerTransfer float64            `json:"mbpsPerTransfer"`
	Phases          map[string]Summary `json:"phases"`
	Throughput      []Point            `json:"throughput,omitempty"` // transfer MB/s over time
	// Warm lists the VMs migrated warm: precopy rounds and downtime.
	Warm []WarmVM `json:"warm,omitempty"`
}

// VMPerf is one VM's timings.
type VMPerf struct {
	Name        string                   `json:"name"`
	Status      string                   `json:"status"` // ready, failed, running, pending
	Error       string                   `json:"error,omitempty"`
	Phases      map[string]time.Duration `json:"phasesNs"`
	Bytes       int64                    `json:"bytes"`      // transferred (guest-visible bytes read)
	RawBytes    int64                    `json:"rawBytes"`   // virtual size of its disks
	ImageBytes  int64                    `json:"imageBytes"` // size of the packaged image
	MBps        float64                  `json:"mbps"`       // transfer throughput
	Ratio       float64                  `json:"ratio"`      // image bytes / raw bytes
	BootToReady time.Duration            `json:"bootToReadyNs"`
	// Downtime runs from the source's shutdown (a warm cutover, or
	// --source-power-off before a cold copy) to the pod VM ready; 0 when
	// the run did not shut the source down or the pod VM is not ready.
	Downtime  time.Duration     `json:"downtimeNs,omitempty"`
	Accel     string            `json:"accel,omitempty"`
	Addresses []string          `json:"addresses,omitempty"` // the pod VM's IP addresses once ready
	Total     time.Duration     `json:"totalNs"`
	Retries   int               `json:"retries,omitempty"`
	Guest     []GuestConversion `json:"guestConversion,omitempty"` // per disk, when considered
	Checks    []CheckResult     `json:"checks,omitempty"`          // post-migration checks, last outcome of each
}

// Summary is a distribution of one phase's durations over VMs.
type Summary struct {
	Count int           `json:"count"`
	Total time.Duration `json:"totalNs"`
	P50   time.Duration `json:"p50Ns"`
	P90   time.Duration `json:"p90Ns"`
	P99   time.Duration `json:"p99Ns"`
	Max   time.Duration `json:"maxNs"`
}

// Point is one sample of a time series: seconds since the run started.
type Point struct {
	T float64 `json:"t"`
	V float64 `json:"v"`
}

// Build assembles a report from a plan (may be nil) and a run's events
// (may be empty: a compatibility-only report).
func Build(title string, pl *plan.Plan, events []runrecord.Event, now time.Time) *Report {
	r := &Report{Title: title, Generated: now.UTC()}
	if pl != nil {
		r.Compatibility = compatibility(pl)
	}
	r.Performance = performance(events)
	return r
}

func compatibility(p *plan.Plan) Compatibility {
	c := Compatibility{BySeverity: map[string]int{}}
	s := p.Summarize()
	c.Ready, c.Warning, c.Blocked, c.ByRule = s.Ready, s.Warning, s.Blocked, s.Rules
	for _, vm := range p.VMs {
		c.VMs = append(c.VMs, VMCompat{Name: vm.Name, PodVM: vm.Spec.Name, Status: vm.Status, Mode: vm.Spec.Mode, Findings: vm.Findings})
		for _, f := range vm.Findings {
			c.BySeverity[string(f.Severity)]++
		}
	}
	return c
}

// performance measures a run directory's events. A run directory may hold
// several runs (a migration resumed after a crash): each step counts once,
// with its last successful measurement; wall time is the sum of the runs'
// own spans, without the gaps between them; a VM's status and error are
// those of its last outcome.
func performance(events []runrecord.Event) Performance {
	p := Performance{Phases: map[string]Summary{}}
	if len(events) == 0 {
		return p
	}
	clock := newRunClock(events)
	p.Started, p.Finished = events[0].Time, events[0].Time
	byVM := map[string]*VMPerf{}
	var order []string
	get := func(name string) *VMPerf {
		if v, ok := byVM[name]; ok {
			return v
		}
		v := &VMPerf{Name: name, Status: "pending", Phases: map[string]time.Duration{}}
		byVM[name] = v
		order = append(order, name)
		return v
	}
	last := map[string]runrecord.Event{} // vm/disk/phase -> last done
	var keys []string
	for _, e := range events {
		if e.Time.Before(p.Started) {
			p.Started = e.Time
		}
		if e.Time.After(p.Finished) {
			p.Finished = e.Time
		}
		if e.VM == "" {
			continue
		}
		v := get(e.VM)
		if e.Phase == runrecord.PhaseCheck {
			addCheck(v, e)
			if e.Result != runrecord.ResultFailed {
				continue // a check is no timed phase; only its failure changes the VM's status
			}
		}
		switch e.Result {
		case runrecord.ResultStarted:
			if v.Status != "ready" {
				v.Status, v.Error = "running", ""
			}
		case runrecord.ResultRetry:
			v.Retries++
		case runrecord.ResultFailed:
			v.Status, v.Error = "failed", e.Error
		case runrecord.ResultInterrupted:
			v.Status, v.Error = "interrupted", e.Error
		case runrecord.ResultSkipped:
			if e.Phase == runrecord.PhaseReady {
				v.Status, v.Error = "ready", ""
			}
		case runrecord.ResultDone:
			k := e.VM + "\x00" + e.Disk + "\x00" + e.Phase
			if _, seen := last[k]; !seen {
				keys = append(keys, k)
			}
			last[k] = e
			if e.Phase == runrecord.PhaseReady {
				v.Status, v.Error = "ready", ""
			}
		}
	}
	for name, d := range downtimes(events) {
		byVM[name].Downtime = d
	}
	var transfers []span
	for _, k := range keys {
		e := last[k]
		v := byVM[e.VM]
		v.Phases[e.Phase] += e.Duration
		v.Total += e.Duration
		switch e.Phase {
		case runrecord.PhaseTransfer:
			v.Bytes += e.Bytes
			transfers = append(transfers, span{clock.at(e.Time.Add(-e.Duration)), clock.at(e.Time), e.Bytes})
			if e.Transfer != nil {
				v.RawBytes += e.Transfer.VirtualBytes
			}
			if g, ok := guestConversion(e); ok {
				v.Guest = append(v.Guest, g)
			}
		case runrecord.PhasePackage:
			v.ImageBytes += e.Bytes
		case runrecord.PhaseReady:
			v.BootToReady = e.Duration
			if a := e.Attrs["addresses"]; a != "" { // the runtime target records them
				v.Addresses = strings.Split(a, ",")
			}
		}
		if e.Accel != "" {
			v.Accel = e.Accel
		}
	}
	var perTransfer time.Duration
	for _, name := range order {
		v := byVM[name]
		if d := v.Phases[runrecord.PhaseTransfer]; d > 0 {
			v.MBps = float64(v.Bytes) / 1e6 / d.Seconds()
			perTransfer += d
		}
		if v.RawBytes > 0 && v.ImageBytes > 0 {
			v.Ratio = float64(v.ImageBytes) / float64(v.RawBytes)
		}
		switch v.Status {
		case "ready":
			p.Migrated++
		case "failed":
			p.Failed++
		}
		p.Bytes += v.Bytes
		p.VMs = append(p.VMs, *v)
	}
	p.Wall = clock.total
	if busy := unionLength(transfers); busy > 0 {
		p.MBps = float64(p.Bytes) / 1e6 / busy
	}
	if perTransfer > 0 {
		p.MBpsPerTransfer = float64(p.Bytes) / 1e6 / perTransfer.Seconds()
	}
	for _, ph := range runrecord.Phases() {
		var ds []time.Duration
		for _, v := range p.VMs {
			if d, ok := v.Phases[ph]; ok {
				ds = append(ds, d)
			}
		}
		if len(ds) > 0 {
			p.Phases[ph] = summarize(ds)
		}
	}
	p.Throughput = throughput(transfers, clock.total.Seconds())
	p.Warm = warm(events)
	return p
}

// span is a transfer on the run clock: seconds of run time.
type span struct {
	start, end float64
	bytes      int64
}

// runClock maps wall-clock times onto run time: the runs of a run
// directory laid end to end, without the gaps between them.
type runClock struct {
	runs  []runSpan
	total time.Duration
}

type runSpan struct {
	start, end time.Time
	offset     time.Duration // run time at start
}

func newRunClock(events []runrecord.Event) *runClock {
	c := &runClock{}
	var cur *runSpan
	for _, e := range events {
		if e.Phase == "run" && e.Result == runrecord.ResultStarted || cur == nil {
			c.runs = append(c.runs, runSpan{start: e.Time, end: e.Time})
			cur = &c.runs[len(c.runs)-1]
		}
		if e.Time.After(cur.end) {
			cur.end = e.Time
		}
		if e.Time.Before(cur.start) {
			cur.start = e.Time
		}
	}
	for i := range c.runs {
		c.runs[i].offset = c.total
		c.total += c.runs[i].end.Sub(c.runs[i].start)
	}
	return c
}

// at is the run time, in seconds, of wall-clock time t.
func (c *runClock) at(t time.Time) float64 {
	for i := len(c.runs) - 1; i >= 0; i-- {
		r := c.runs[i]
		if !t.Before(r.start) || i == 0 {
			d := t.Sub(r.start)
			if d < 0 {
				d = 0
			}
			if max := r.end.Sub(r.start); d > max {
				d = max
			}
			return (r.offset + d).Seconds()
		}
	}
	return 0
}

// unionLength is how many seconds at least one transfer was running.
func unionLength(spans []span) float64 {
	s := append([]span(nil), spans...)
	sort.Slice(s, func(i, j int) bool { return s[i].start < s[j].start })
	total, end := 0.0, math.Inf(-1)
	for _, x := range s {
		if x.end <= end {
			continue
		}
		total += x.end - math.Max(x.start, end)
		end = x.end
	}
	return total
}

// throughput spreads each transfer's bytes evenly over its span and samples
// the aggregate MB/s in up to 60 buckets of run time.
func throughput(transfers []span, wall float64) []Point {
	if len(transfers) == 0 || wall <= 0 {
		return nil
	}
	n := 60
	bucket := wall / float64(n)
	if bucket < 0.1 {
		bucket = 0.1
		n = int(wall/bucket) + 1
	}
	vals := make([]float64, n)
	for _, s := range transfers {
		d := s.end - s.start
		if d <= 0 {
			continue
		}
		rate := float64(s.bytes) / d
		for i := range vals {
			bs := float64(i) * bucket
			ov := math.Min(bs+bucket, s.end) - math.Max(bs, s.start)
			if ov > 0 {
				vals[i] += rate * ov / bucket
			}
		}
	}
	out := make([]Point, n)
	for i, v := range vals {
		out[i] = Point{T: float64(i) * bucket, V: v / 1e6}
	}
	return out
}

func summarize(ds []time.Duration) Summary {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	s := Summary{Count: len(ds), Max: ds[len(ds)-1]}
	for _, d := range ds {
		s.Total += d
	}
	s.P50, s.P90, s.P99 = percentile(ds, 50), percentile(ds, 90), percentile(ds, 99)
	return s
}

// percentile uses the nearest-rank method on sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	if rank < 1 {
		rank = 1
	}
	return sorted[rank-1]
}
