package main

import (
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/podvm-migrate/podvm-migrate/internal/output"
)

// diskProgress shows a byte count on stderr: a bar with rate and ETA on a
// terminal, a plain line every few seconds otherwise.
type diskProgress struct {
	w     io.Writer
	label string
	off   bool
	bar   *progressbar.ProgressBar
	start time.Time
	last  time.Time
}

const progressEvery = 5 * time.Second

func newDiskProgress(w io.Writer, label string, off bool) *diskProgress {
	now := time.Now()
	return &diskProgress{w: w, label: label, off: off, start: now, last: now}
}

func (p *diskProgress) update(done, total int64) {
	if p.off {
		return
	}
	if output.IsTerminal(p.w) {
		if p.bar == nil {
			p.bar = progressbar.NewOptions64(total,
				progressbar.OptionSetWriter(p.w),
				progressbar.OptionSetDescription(p.label),
				progressbar.OptionShowBytes(true),
				progressbar.OptionShowCount(),
				progressbar.OptionSetPredictTime(true),
				progressbar.OptionThrottle(100*time.Millisecond),
				progressbar.OptionSetWidth(30),
				progressbar.OptionClearOnFinish(),
			)
		}
		_ = p.bar.Set64(done)
		return
	}
	now := time.Now()
	if now.Sub(p.last) < progressEvery && done < total {
		return
	}
	p.last = now
	fmt.Fprintln(p.w, p.line(done, total, now))
}

// line is the plain progress line: bytes, percent, rate and ETA.
func (p *diskProgress) line(done, total int64, now time.Time) string {
	secs := now.Sub(p.start).Seconds()
	rate := 0.0
	if secs > 0 {
		rate = float64(done) / secs
	}
	eta := "-"
	if rate > 0 && done < total {
		eta = time.Duration(float64(total-done) / rate * float64(time.Second)).Round(time.Second).String()
	}
	pct := 100.0
	if total > 0 {
		pct = 100 * float64(done) / float64(total)
	}
	return fmt.Sprintf("%s: %s / %s (%.0f%%), %.1f MB/s, ETA %s", p.label, mibString(done), mibString(total), pct, rate/1e6, eta)
}

func (p *diskProgress) finish(ok bool) {
	if p.bar != nil {
		if ok {
			_ = p.bar.Finish()
		} else {
			_ = p.bar.Exit()
		}
	}
}

func mibString(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
