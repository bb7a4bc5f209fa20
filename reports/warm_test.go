package reports

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/podvm-migrate/podvm-migrate/runrecord"
)

// TestWarmDowntimeAndRounds reads a warm migration's record: rounds of two
// disks (round 2 of disk0 recorded twice, as a resumed run does), the
// cutover and readiness, and a cold VM beside it.
func TestWarmDowntimeAndRounds(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 1, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	pre := func(s float64, disk string, round int, n int64, final bool) runrecord.Event {
		return runrecord.Event{Time: at(s), VM: "web01", Disk: disk, Phase: runrecord.PhasePrecopy, Result: runrecord.ResultDone, Bytes: n,
			Duration: time.Second, Precopy: &runrecord.Precopy{Round: round, ChangeID: "52 1a/" + string(rune('0'+round)), Final: final}}
	}
	events := []runrecord.Event{
		pre(1, "disk0", 1, 1<<30, false), pre(2, "disk1", 1, 1<<20, false),
		pre(10, "disk0", 2, 30<<20, false), pre(11, "disk1", 2, 0, false),
		pre(20, "disk0", 2, 32<<20, false), // the same round again after a resume
		{Time: at(30), VM: "web01", Phase: runrecord.PhaseCutover, Result: runrecord.ResultStarted, Cutover: &runrecord.Cutover{Reason: "rounds", ShutdownAt: at(30)}},
		pre(33, "disk0", 3, 4<<20, true), pre(34, "disk1", 3, 64<<10, true),
		{Time: at(35), VM: "web01", Phase: runrecord.PhaseCutover, Result: runrecord.ResultDone, Cutover: &runrecord.Cutover{Reason: "rounds", ShutdownAt: at(30), Shutdown: "guest shut down", Rounds: 2}},
		{Time: at(42.5), VM: "web01", Phase: runrecord.PhaseReady, Result: runrecord.ResultDone, Duration: 3 * time.Second},
		{Time: at(46), VM: "db01", Phase: runrecord.PhaseQuiesce, Result: runrecord.ResultDone, Duration: 2 * time.Second, Attrs: map[string]string{"action": "guest shut down"}},
		{Time: at(50), VM: "db01", Disk: "disk0", Phase: runrecord.PhaseTransfer, Result: runrecord.ResultDone, Bytes: 1 << 20, Duration: time.Second},
		{Time: at(55), VM: "db01", Phase: runrecord.PhaseReady, Result: runrecord.ResultDone},
		// app01 cut over, but its pod VM never became ready.
		{Time: at(60), VM: "app01", Disk: "disk0", Phase: runrecord.PhasePrecopy, Result: runrecord.ResultDone, Bytes: 1 << 20, Precopy: &runrecord.Precopy{Round: 1}},
		{Time: at(61), VM: "app01", Phase: runrecord.PhaseCutover, Result: runrecord.ResultDone, Cutover: &runrecord.Cutover{Reason: "request", ShutdownAt: at(60.5)}},
		{Time: at(90), VM: "app01", Phase: runrecord.PhaseBoot, Result: runrecord.ResultFailed, Error: "not ready within 30s"},
	}
	r := Build("warm", nil, events, t0)
	ws := r.Performance.Warm
	if len(ws) != 2 || ws[0].Name != "web01" || ws[1].Name != "app01" {
		t.Fatalf("warm VMs %+v: want web01 and app01 (db01 went cold)", ws)
	}
	if ws[1].Ready || ws[1].Downtime != 0 {
		t.Errorf("app01 %+v: its pod VM never became ready, so its downtime is unknown", ws[1])
	}
	w := ws[0]
	if !w.Ready || w.Downtime != 12500*time.Millisecond || w.CutoverReason != "rounds" || w.Shutdown != "guest shut down" {
		t.Errorf("web01 %+v: want 12.5 s of downtime from the shutdown to ready", w)
	}
	want := []WarmRound{{1, 1<<30 + 1<<20, 2 * time.Second, false, false}, {2, 32 << 20, 2 * time.Second, false, false}, {3, 4<<20 + 64<<10, 2 * time.Second, true, false}}
	if len(w.Rounds) != len(want) {
		t.Fatalf("rounds %+v, want %+v", w.Rounds, want)
	}
	for i := range want {
		if w.Rounds[i] != want[i] {
			t.Errorf("round %d: %+v, want %+v", i+1, w.Rounds[i], want[i])
		}
	}
	// Every VM whose source the run shut down has a downtime: db01 went
	// cold after --source-power-off.
	for _, v := range r.Performance.VMs {
		want := map[string]time.Duration{"web01": 12500 * time.Millisecond, "db01": 11 * time.Second}[v.Name]
		if v.Downtime != want {
			t.Errorf("%s: downtime %s, want %s", v.Name, v.Downtime, want)
		}
	}
	var b bytes.Buffer
	if err := Render(&b, r, FormatCSV); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), ",downtime_seconds,error\n") || !strings.Contains(b.String(), ",11.000,\n") {
		t.Errorf("csv lacks db01's downtime:\n%s", b.String())
	}
	b.Reset()
	if err := Render(&b, r, FormatJSON); err != nil {
		t.Fatal(err)
	}
	var back struct {
		Performance struct {
			Warm []struct {
				Name            string  `json:"name"`
				DowntimeSeconds float64 `json:"downtimeSeconds"`
			} `json:"warm"`
		} `json:"performance"`
	}
	if err := json.Unmarshal(b.Bytes(), &back); err != nil || len(back.Performance.Warm) != 2 || back.Performance.Warm[0].DowntimeSeconds != 12.5 {
		t.Errorf("json report: %v, %+v: want web01's downtime in seconds", err, back.Performance.Warm)
	}
	b.Reset()
	if err := Render(&b, r, FormatMarkdown); err != nil {
		t.Fatal(err)
	}
	if row := "| web01 | 3 | 1: 1.0 GiB, 2: 32.0 MiB, 3: 4.1 MiB (final) | rounds | guest shut down | 12.5s |"; !strings.Contains(b.String(), row) {
		t.Errorf("markdown lacks %q:\n%s", row, b.String())
	}
	if row := "| app01 | 1 | 1: 1.0 MiB | request |  | not ready |"; !strings.Contains(b.String(), row) {
		t.Errorf("markdown lacks %q:\n%s", row, b.String())
	}
	b.Reset()
	if err := Render(&b, r, FormatHTML); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"Warm migration", `aria-label="Bytes per precopy round"`, "web01 round 3: 4.1 MiB"} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("html lacks %q", s)
		}
	}
}
