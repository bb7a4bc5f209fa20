package reports

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/podvm-migrate/podvm-migrate/runrecord"
)

// checkRun is web01 ready with three checks, tcp:22 failing; then a rerun
// in which the pod VM was left running and tcp:22 passes.
func checkRun(rerun bool) []runrecord.Event {
	t0 := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	check := func(s float64, spec, outcome, detail string) runrecord.Event {
		res := map[string]string{runrecord.CheckPassed: runrecord.ResultDone, runrecord.CheckFailed: runrecord.ResultFailed, runrecord.CheckSkipped: runrecord.ResultSkipped}[outcome]
		e := runrecord.Event{Time: at(s), VM: "web01", Phase: runrecord.PhaseCheck, Result: res, Duration: time.Second,
			Check: &runrecord.Check{Check: spec, Outcome: outcome, Target: "127.0.0.1:40022", Address: "user networking via 127.0.0.1 (40022->22)", Detail: detail, Attempts: 3}}
		if outcome == runrecord.CheckFailed {
			e.Error = spec + ": " + detail
		}
		return e
	}
	events := []runrecord.Event{
		{Time: at(0), Phase: runrecord.PhaseRun, Result: runrecord.ResultStarted},
		{Time: at(1), VM: "web01", Phase: runrecord.PhaseBoot, Result: runrecord.ResultDone, Duration: time.Second, Accel: "tcg"},
		{Time: at(3), VM: "web01", Phase: runrecord.PhaseReady, Result: runrecord.ResultDone, Duration: 2 * time.Second},
		check(4, "tcp:22", runrecord.CheckFailed, "the guest closed the connection: nothing listens on that guest port <b>"),
		check(4, "ping", runrecord.CheckSkipped, "not possible on user networking: QEMU's slirp carries no ICMP"),
		check(4, "http://:80/=200", runrecord.CheckPassed, "status 200"),
		{Time: at(5), Phase: runrecord.PhaseRun, Result: runrecord.ResultFailed},
	}
	if rerun {
		events = append(events,
			runrecord.Event{Time: at(100), Phase: runrecord.PhaseRun, Result: runrecord.ResultStarted},
			runrecord.Event{Time: at(100), VM: "web01", Phase: runrecord.PhaseReady, Result: runrecord.ResultSkipped},
			check(101, "tcp:22", runrecord.CheckPassed, "connected"),
			check(101, "ping", runrecord.CheckSkipped, "not possible on user networking: QEMU's slirp carries no ICMP"),
			check(101, "http://:80/=200", runrecord.CheckPassed, "status 200"),
			runrecord.Event{Time: at(102), Phase: runrecord.PhaseRun, Result: runrecord.ResultDone})
	}
	return events
}

func TestReportShowsChecks(t *testing.T) {
	r := Build("Migration report", nil, checkRun(false), time.Now())
	p := r.Performance
	if p.Failed != 1 || p.Migrated != 0 || len(p.VMs) != 1 {
		t.Fatalf("a failed check fails its VM: %+v", p)
	}
	v := p.VMs[0]
	if v.Status != "failed" || !strings.Contains(v.Error, "tcp:22: the guest closed") || len(v.Checks) != 3 || v.Checks[1].Outcome != "skipped" {
		t.Errorf("web01: %+v", v)
	}
	if _, ok := p.Phases[runrecord.PhaseCheck]; ok || v.Total != 3*time.Second {
		t.Errorf("checks are not a timed phase: %+v, total %s", p.Phases, v.Total)
	}

	var js bytes.Buffer
	if err := Render(&js, r, "json"); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back.Performance.VMs[0].Checks) != 3 || back.Performance.VMs[0].Checks[0].Outcome != "failed" {
		t.Errorf("JSON report: %v\n%s", err, js.String())
	}
	var html, md bytes.Buffer
	if err := Render(&html, r, "html"); err != nil {
		t.Fatal(err)
	}
	if err := Render(&md, r, "md"); err != nil {
		t.Fatal(err)
	}
	h := html.String()
	for _, want := range []string{"<h2>Post-migration checks</h2>", "<code>tcp:22</code>", ">failed</span>", ">skipped</span>", ">passed</span>",
		"slirp carries no ICMP", "nothing listens on that guest port &lt;b&gt;", "user networking via 127.0.0.1 (40022-&gt;22)"} {
		if !strings.Contains(h, want) {
			t.Errorf("HTML report lacks %q", want)
		}
	}
	if !strings.Contains(md.String(), "### Post-migration checks") || !strings.Contains(md.String(), "| web01 | tcp:22 | failed | 127.0.0.1:40022 | 3 |") {
		t.Errorf("Markdown report:\n%s", md.String())
	}

	// After the rerun the VM is ready and each check shows its last outcome.
	v = Build("", nil, checkRun(true), time.Now()).Performance.VMs[0]
	if v.Status != "ready" || v.Error != "" || len(v.Checks) != 3 || v.Checks[0].Check != "tcp:22" || v.Checks[0].Outcome != "passed" {
		t.Errorf("after the rerun: %+v", v)
	}
}
