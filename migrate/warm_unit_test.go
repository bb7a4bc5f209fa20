package migrate

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/podvm-migrate/podvm-migrate/plan"
	"github.com/podvm-migrate/podvm-migrate/podvm"
	"github.com/podvm-migrate/podvm-migrate/runrecord"
)

// TestWaitRoundSaysWhenToCutOver covers each way to end precopy after a
// round, and a pause that simply ends.
func TestWaitRoundSaysWhenToCutOver(t *testing.T) {
	vm := &plan.PlannedVM{Name: "web01", Spec: podvm.Spec{Name: "web-01"}}
	cases := []struct {
		name    string
		o       WarmOptions
		rounds  int
		request string        // a cutover request file
		at      time.Duration // CutoverAt, from when the case starts
		want    string
	}{
		{name: "rounds reached", o: WarmOptions{CutoverAfter: 3}, rounds: 3, want: "rounds"},
		{name: "rounds not reached", o: WarmOptions{CutoverAfter: 3, Interval: 10 * time.Millisecond}, rounds: 2, want: ""},
		{name: "time passed", o: WarmOptions{CutoverAt: time.Now().Add(-time.Minute)}, rounds: 1, want: "time"},
		{name: "time comes during the pause", o: WarmOptions{Interval: time.Hour, Poll: 5 * time.Millisecond}, at: 300 * time.Millisecond, rounds: 1, want: "time"},
		{name: "request by pod VM name", o: WarmOptions{Interval: time.Hour, Poll: 5 * time.Millisecond}, rounds: 1, request: "web-01", want: "request"},
		{name: "request by source name", o: WarmOptions{Interval: time.Hour}, rounds: 1, request: "web01", want: "request"},
		{name: "request for all", o: WarmOptions{Interval: time.Hour}, rounds: 1, request: "all", want: "request"},
		{name: "request for another VM", o: WarmOptions{Interval: 20 * time.Millisecond, Poll: 5 * time.Millisecond}, rounds: 1, request: "db01", want: ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, runrecord.JournalFile), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			if c.request != "" {
				if err := RequestCutover(dir, []string{c.request}); err != nil {
					t.Fatal(err)
				}
			}
			o := c.o
			if c.at != 0 {
				// From the case's own start, not the table's: the cases
				// before it would otherwise use up the time on a slow
				// machine, and the time would have passed before the pause.
				o.CutoverAt = time.Now().Add(c.at)
			}
			r := &Runner{o: Options{RunDir: dir, Warm: &o}}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			got, err := r.waitRound(ctx, vm, c.rounds)
			if err != nil || got != c.want {
				t.Errorf("waitRound = %q, %v; want %q", got, err, c.want)
			}
		})
	}
	// Ctrl-C during a pause ends it with the context's error.
	r := &Runner{o: Options{RunDir: t.TempDir(), Warm: &WarmOptions{Interval: time.Hour}}}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.waitRound(ctx, vm, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled pause: %v", err)
	}
}
