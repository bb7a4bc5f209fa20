package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/podvm-migrate/podvm-migrate/internal/output"
	"github.com/podvm-migrate/podvm-migrate/runrecord"
)

// progress shows a migration run: on a terminal, a block of progress bars
// at the bottom (one per disk being transferred, and an overall one of VMs
// done) with log lines scrolling above it; plain log lines otherwise; JSON
// events on stdout with -o json.
type progress struct {
	mu      sync.Mutex
	log     io.Writer
	json    *json.Encoder
	tty     bool
	start   time.Time
	bars    map[string]*bar // active disk transfers
	order   []string
	overall *bar
	drawn   int // lines of the bar block now on screen
	total   int // VMs in the run
	done    int // VMs finished (ready or failed)
}

// bar is one progressbar/v3 bar whose output is captured, so the block can
// be redrawn as a whole.
type bar struct {
	pb   *progressbar.ProgressBar
	last string
}

// Write keeps the bar's latest rendering (what follows its last '\r').
func (b *bar) Write(p []byte) (int, error) {
	s := string(p)
	if i := strings.LastIndexByte(s, '\r'); i >= 0 {
		s = s[i+1:]
	}
	if s = strings.TrimRight(s, "\n"); strings.TrimSpace(s) != "" {
		b.last = s
	}
	return len(p), nil
}

func newProgress(stderr, stdout io.Writer, f output.Format) *progress {
	p := &progress{log: stderr, tty: output.IsTerminal(stderr), bars: map[string]*bar{}, start: time.Now()}
	if f == output.JSON {
		p.json = json.NewEncoder(stdout)
	}
	return p
}

func (p *progress) newBar(total int64, desc string, bytes bool) *bar {
	b := &bar{}
	opts := []progressbar.Option{progressbar.OptionSetWriter(b), progressbar.OptionSetDescription(desc),
		progressbar.OptionSetWidth(28), progressbar.OptionThrottle(100 * time.Millisecond), progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true), progressbar.OptionSetRenderBlankState(true), progressbar.OptionUseANSICodes(true)}
	if bytes {
		opts = append(opts, progressbar.OptionShowBytes(true))
	}
	b.pb = progressbar.NewOptions64(total, opts...)
	return b
}

// Event logs one pipeline event.
func (p *progress) Event(e runrecord.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.json != nil {
		_ = p.json.Encode(e)
		if e.Result == runrecord.ResultWarning {
			fmt.Fprintln(p.log, "warning:", strings.TrimPrefix(e.VM+": "+e.Attrs["note"], ": "))
		}
		return
	}
	if e.Phase == "run" && e.Result == runrecord.ResultStarted {
		p.total, _ = strconv.Atoi(e.Attrs["vms"])
		if p.tty && p.total > 0 {
			p.overall = p.newBar(int64(p.total), "VMs done", false)
		}
	}
	if (e.Phase == runrecord.PhaseTransfer || e.Phase == runrecord.PhasePrecopy) && e.Result != runrecord.ResultStarted {
		p.dropBar(e.VM + "/" + e.Disk)
	}
	if e.VM != "" && (e.Phase == runrecord.PhaseReady && (e.Result == runrecord.ResultDone || e.Result == runrecord.ResultSkipped) || (e.Result == runrecord.ResultFailed || e.Result == runrecord.ResultInterrupted) && e.Phase != runrecord.PhaseCheck) {
		p.done++
		if p.overall != nil {
			_ = p.overall.pb.Set(p.done)
		}
	}
	if e.Result == runrecord.ResultStarted && e.Phase != "run" {
		p.redraw()
		return
	}
	p.println(formatEvent(e, time.Since(p.start)))
}

// Bytes moves a disk's bar.
func (p *progress) Bytes(vm, disk string, done, total int64) {
	if !p.tty || p.json != nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	k := vm + "/" + disk
	b := p.bars[k]
	if b == nil {
		b = p.newBar(total, k, true)
		p.bars[k] = b
		p.order = append(p.order, k)
	}
	_ = b.pb.Set64(done)
	p.redraw()
}

func (p *progress) dropBar(k string) {
	if _, ok := p.bars[k]; !ok {
		return
	}
	delete(p.bars, k)
	for i, o := range p.order {
		if o == k {
			p.order = append(p.order[:i], p.order[i+1:]...)
			break
		}
	}
}

// println prints a log line above the bar block.
func (p *progress) println(line string) {
	p.erase()
	fmt.Fprintln(p.log, line)
	p.redraw()
}

func (p *progress) erase() {
	for ; p.drawn > 0; p.drawn-- {
		fmt.Fprint(p.log, "\x1b[1A\x1b[2K")
	}
}

func (p *progress) redraw() {
	if !p.tty {
		return
	}
	p.erase()
	var lines []string
	for _, k := range p.order {
		lines = append(lines, p.bars[k].last)
	}
	if p.overall != nil {
		lines = append(lines, p.overall.last)
	}
	for _, l := range lines {
		fmt.Fprintln(p.log, l)
	}
	p.drawn = len(lines)
}

// finish removes the bar block.
func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bars, p.order, p.overall = map[string]*bar{}, nil, nil
	p.erase()
}

// formatEvent renders an event as one log line.
func formatEvent(e runrecord.Event, at time.Duration) string {
	what := strings.TrimSuffix(e.VM+" "+e.Disk, " ")
	line := fmt.Sprintf("%7.1fs %-24s %-9s %s", at.Seconds(), what, e.Phase, e.Result)
	if e.Duration > 0 {
		line += " in " + e.Duration.Round(time.Millisecond).String()
	}
	if e.Bytes > 0 {
		line += fmt.Sprintf(", %.1f MB", float64(e.Bytes)/1e6)
		if e.Duration > 0 && e.Phase == runrecord.PhaseTransfer {
			line += fmt.Sprintf(" at %.1f MB/s", float64(e.Bytes)/1e6/e.Duration.Seconds())
		}
	}
	if a := e.Accel; a != "" {
		line += " (" + a + ")"
	}
	if a := e.Attrs["action"]; a != "" {
		line += ": " + a
	}
	if c := e.Check; c != nil && e.Error == "" {
		line += ": " + c.Check + " (" + c.Detail + ")"
	}
	if pc := e.Precopy; pc != nil {
		line += fmt.Sprintf(" (round %d", pc.Round)
		if pc.Final {
			line += ", final"
		}
		line += ")"
		if pc.Restart != "" {
			line += ": copied in full again: " + pc.Restart
		}
	}
	if c := e.Cutover; c != nil && e.Result == runrecord.ResultDone {
		line += fmt.Sprintf(": after %d rounds (%s), source %s", c.Rounds, c.Reason, c.Shutdown)
	}
	if n := e.Attrs["note"]; n != "" {
		line += ": " + n
	}
	if e.Error != "" {
		line += ": " + e.Error
	}
	return line
}
