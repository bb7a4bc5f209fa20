package kubevirt

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// progressLog collects progress lines as a wait reports them, and lets a
// test's stand-in controller wait until a line has been reported before it
// moves on: a state the controller sets is seen by the poller however
// slowly a loaded machine polls, with no sleep to guess how long that is.
type progressLog struct {
	mu      sync.Mutex
	lines   []string
	changed chan struct{} // closed and replaced at each new line
}

func newProgressLog() *progressLog { return &progressLog{changed: make(chan struct{})} }

// add records one progress line.
func (l *progressLog) add(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, line)
	close(l.changed)
	l.changed = make(chan struct{})
}

// text is every line reported so far.
func (l *progressLog) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// waitFor returns once one line holding every one of parts has been
// reported, or with ctx's error naming the line it waited for.
func (l *progressLog) waitFor(ctx context.Context, parts ...string) error {
	for {
		l.mu.Lock()
		found := slices.ContainsFunc(l.lines, func(line string) bool {
			for _, p := range parts {
				if !strings.Contains(line, p) {
					return false
				}
			}
			return true
		})
		changed := l.changed
		l.mu.Unlock()
		if found {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no progress line with %q: %w", parts, ctx.Err())
		case <-changed:
		}
	}
}
