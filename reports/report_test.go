package reports

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/podvm-migrate/podvm-migrate/discover"
	"github.com/podvm-migrate/podvm-migrate/plan"
	"github.com/podvm-migrate/podvm-migrate/runrecord"
)

// testRun plans three VMs (one blocked, one with a hostile name) and
// records a run in a real journal: web01 migrates, db01 fails in convert.
func testRun(t *testing.T) (*plan.Plan, []runrecord.Event) {
	t.Helper()
	vm := func(name, mac string) discover.VM {
		return discover.VM{Name: name, Source: discover.SourceRef{Kind: discover.SourceVMX, Path: "/vms/" + name + ".vmx"},
			Guest: discover.Guest{GuestID: "debian12_64Guest"},
			Hardware: discover.Hardware{Firmware: discover.FirmwareBIOS, CPUs: 1, CoresPerSocket: 1, MemoryMiB: 512,
				Disks: []discover.Disk{{Controller: "scsi0", CapacityBytes: 64 << 20, File: "/vms/" + name + ".vmdk"}},
				NICs:  []discover.NIC{{Model: "vmxnet3", MAC: mac, Network: "VM Network"}}}}
	}
	blocked := vm("<script>alert(1)</script>", "00:50:56:00:00:03")
	blocked.State.FaultTolerance = "running"
	inv := discover.NewInventory()
	inv.VMs = []discover.VM{vm("web01", "00:50:56:00:00:01"), vm("db01", "00:50:56:00:00:02"), blocked}
	pl, err := plan.NewPlan(inv, plan.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	j, err := runrecord.OpenJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	for _, e := range []runrecord.Event{
		{Time: at(0), VM: "web01", Phase: runrecord.PhaseTransfer, Result: runrecord.ResultStarted},
		{Time: at(0), VM: "db01", Phase: runrecord.PhaseTransfer, Result: runrecord.ResultStarted},
		{Time: at(4), VM: "web01", Disk: "disk0", Phase: runrecord.PhaseTransfer, Result: runrecord.ResultDone, Bytes: 400e6, Duration: 4 * time.Second, Transfer: &runrecord.Transfer{Source: "[ds1] web01/web01.vmdk", VirtualBytes: 1073741824}},
		{Time: at(5), VM: "db01", Disk: "disk0", Phase: runrecord.PhaseTransfer, Result: runrecord.ResultDone, Bytes: 200e6, Duration: 5 * time.Second},
		{Time: at(6), VM: "db01", Phase: runrecord.PhaseConvert, Result: runrecord.ResultFailed, Error: "disk0: grain table points past the end at offset 65536"},
		{Time: at(6), VM: "web01", Disk: "disk0", Phase: runrecord.PhaseConvert, Result: runrecord.ResultDone, Duration: 2 * time.Second},
		{Time: at(7), VM: "web01", Phase: runrecord.PhasePackage, Result: runrecord.ResultDone, Bytes: 16 << 20, Duration: time.Second},
		{Time: at(10), VM: "web01", Phase: runrecord.PhaseBoot, Result: runrecord.ResultDone, Duration: 500 * time.Millisecond, Accel: "tcg"},
		{Time: at(12.5), VM: "web01", Phase: runrecord.PhaseReady, Result: runrecord.ResultDone, Duration: 2500 * time.Millisecond,
			Attrs: map[string]string{"addresses": "192.168.122.50,fd00::50"}},
	} {
		if err := j.Append(e); err != nil {
			t.Fatal(err)
		}
	}
	j.Close()
	events, err := runrecord.ReadJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	return pl, events
}

func TestBuildComputesPerformance(t *testing.T) {
	pl, events := testRun(t)
	r := Build("Migration report", pl, events, time.Now())
	p := r.Performance
	if p.Migrated != 1 || p.Failed != 1 || p.Wall != 12500*time.Millisecond || p.Bytes != 600e6 {
		t.Fatalf("performance %+v", p)
	}
	if p.MBps < 119.99 || p.MBps > 120.01 {
		t.Errorf("aggregate MB/s = %.2f, want 120 (600 MB while some transfer ran: 5 s)", p.MBps)
	}
	if want := 600.0 / 9; p.MBpsPerTransfer < want-0.01 || p.MBpsPerTransfer > want+0.01 {
		t.Errorf("per-transfer MB/s = %.2f, want %.2f", p.MBpsPerTransfer, want)
	}
	web := p.VMs[0]
	if web.Name != "web01" || web.Status != "ready" || web.Accel != "tcg" || web.BootToReady != 2500*time.Millisecond || web.MBps != 100 ||
		web.Ratio != 16.0/1024 || web.Total != 10*time.Second || fmt.Sprint(web.Addresses) != "[192.168.122.50 fd00::50]" {
		t.Errorf("web01 %+v", web)
	}
	if db := p.VMs[1]; db.Status != "failed" || !strings.Contains(db.Error, "offset 65536") {
		t.Errorf("db01 %+v", db)
	}
	if s := p.Phases[runrecord.PhaseTransfer]; s.Count != 2 || s.P50 != 4*time.Second || s.Max != 5*time.Second {
		t.Errorf("transfer summary %+v", s)
	}
	var peak float64
	for _, pt := range p.Throughput {
		peak = max(peak, pt.V)
	}
	if peak < 139 || peak > 141 { // 100 MB/s + 40 MB/s while both transfers overlap
		t.Errorf("throughput peak %.1f MB/s, want 140", peak)
	}
	if c := r.Compatibility; c.Blocked != 1 || c.Ready != 2 || c.ByRule[0].Rule != "fault-tolerance" {
		t.Errorf("compatibility %+v", c)
	}
}

func TestRenderFormats(t *testing.T) {
	pl, events := testRun(t)
	r := Build("Migration report", pl, events, time.Now())
	render := func(format string) string {
		var b bytes.Buffer
		if err := Render(&b, r, format); err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		return b.String()
	}
	var back Report
	if err := json.Unmarshal([]byte(render(FormatJSON)), &back); err != nil || back.Performance.Migrated != 1 {
		t.Errorf("json: %v", err)
	}
	mdOut := render(FormatMarkdown)
	for _, want := range []string{"| web01 | ready | tcg | 192.168.122.50 fd00::50 | 4s | 2s | 1s | 2.5s | 10s | 100.0 | 2% |", "| fault-tolerance | critical | 1 |", "| transfer | 2 |"} {
		if !strings.Contains(mdOut, want) {
			t.Errorf("markdown lacks %q:\n%s", want, mdOut)
		}
	}
	recs, err := csv.NewReader(strings.NewReader(render(FormatCSV))).ReadAll()
	if err != nil || len(recs) != 4 || recs[1][0] != "web01" || recs[1][8] != "ready" || recs[0][10] != "addresses" || recs[1][10] != "192.168.122.50 fd00::50" || recs[2][len(recs[2])-1] == "" {
		t.Errorf("csv: %v\n%v", err, recs)
	}
	page := render(FormatHTML)
	for _, bad := range []string{"<script>alert", "ZgotmplZ", "http://", "https://"} {
		if strings.Contains(page, bad) {
			t.Errorf("html contains %q", bad)
		}
	}
	for _, want := range []string{"&lt;script&gt;alert(1)&lt;/script&gt;", "<svg", "Transfer throughput over time", "grain table points past the end", "<td>192.168.122.50 fd00::50</td>"} {
		if !strings.Contains(page, want) {
			t.Errorf("html lacks %q", want)
		}
	}
	if err := Render(&bytes.Buffer{}, r, "pdf"); err == nil {
		t.Error("pdf accepted")
	}
}

func TestResumedRunCountsEachStepOnce(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	ev := func(at time.Duration, vm, disk, phase, result string, d time.Duration, bytes int64, errText string) runrecord.Event {
		return runrecord.Event{Time: t0.Add(at), VM: vm, Disk: disk, Phase: phase, Result: result, Duration: d, Bytes: bytes, Error: errText,
			Transfer: &runrecord.Transfer{Source: "disk.vmdk", VirtualBytes: 1000000000}}
	}
	events := []runrecord.Event{
		// Run 1: the transfer finishes, the boot fails, then the run dies.
		ev(0, "", "", "run", runrecord.ResultStarted, 0, 0, ""),
		ev(10*time.Second, "web01", "disk0", runrecord.PhaseTransfer, runrecord.ResultDone, 10*time.Second, 100e6, ""),
		ev(12*time.Second, "web01", "", runrecord.PhasePackage, runrecord.ResultDone, 2*time.Second, 10e6, ""),
		ev(20*time.Second, "web01", "", runrecord.PhaseBoot, runrecord.ResultFailed, 0, 0, "not ready within 2m0s"),
		// Run 2, a day later: transfer and package are skipped, the boot works.
		ev(day, "", "", "run", runrecord.ResultStarted, 0, 0, ""),
		ev(day+time.Second, "web01", "disk0", runrecord.PhaseTransfer, runrecord.ResultSkipped, 0, 100e6, ""),
		ev(day+2*time.Second, "web01", "", runrecord.PhasePackage, runrecord.ResultSkipped, 0, 10e6, ""),
		ev(day+5*time.Second, "web01", "", runrecord.PhaseBoot, runrecord.ResultDone, time.Second, 0, ""),
		ev(day+8*time.Second, "web01", "", runrecord.PhaseReady, runrecord.ResultDone, 3*time.Second, 0, ""),
		ev(day+8*time.Second, "", "", "run", runrecord.ResultDone, 8*time.Second, 0, ""),
	}
	p := Build("r", nil, events, time.Now()).Performance
	if p.Wall != 28*time.Second {
		t.Errorf("wall %s, want 28s: the two runs without the day between them", p.Wall)
	}
	v := p.VMs[0]
	if v.Status != "ready" || v.Error != "" || v.Bytes != 100e6 || v.ImageBytes != 10e6 || v.RawBytes != 1e9 || v.Phases[runrecord.PhaseTransfer] != 10*time.Second {
		t.Errorf("web01 %+v: want ready, no error, each step counted once", v)
	}
	if p.MBps != 10 || len(p.Throughput) == 0 || p.Throughput[len(p.Throughput)-1].T > 28 {
		t.Errorf("MB/s %.1f, throughput over %v", p.MBps, p.Throughput[len(p.Throughput)-1])
	}
}

func TestHostileNamesAreEscapedEverywhere(t *testing.T) {
	evil := `<img src=x onerror=alert(1)>`
	pl, events := testRun(t)
	for i := range events {
		if events[i].VM == "db01" {
			events[i].VM = evil
			if events[i].Error != "" {
				events[i].Error = evil + " failed"
			}
		}
	}
	r := Build("Migration report", pl, events, time.Now())
	r.Performance.VMs[0].Name = "=HYPERLINK(\"http://x\")"
	var c bytes.Buffer
	if err := Render(&c, r, FormatCSV); err != nil || strings.Contains(c.String(), "\n=HYPERLINK") || !strings.Contains(c.String(), "'=HYPERLINK") {
		t.Errorf("a VM name reaches a spreadsheet as a formula: %v\n%s", err, c.String())
	}
	for _, f := range []string{FormatHTML, FormatMarkdown} {
		var b bytes.Buffer
		if err := Render(&b, r, f); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(strings.ReplaceAll(b.String(), `\<`, ""), "<img") {
			t.Errorf("%s report carries markup from a VM name or error", f)
		}
		if escaped := map[string]string{FormatHTML: "&lt;img", FormatMarkdown: `\<img`}[f]; !strings.Contains(b.String(), escaped) {
			t.Errorf("%s report lost the name instead of escaping it (as %s)", f, escaped)
		}
	}
}

func TestMarkdownCell(t *testing.T) {
	for in, want := range map[string]string{
		"Run Snapshots > Consolidate in vSphere": "Run Snapshots > Consolidate in vSphere",
		"a | b\nc":                               `a \| b c`,
		"<img src=x onerror=alert(1)>":           `\<img src=x onerror=alert(1)>`,
		"&lt;b&gt; C:\\VM":                       `\&lt;b\&gt; C:\\VM`,
	} {
		if got := md(in); got != want {
			t.Errorf("md(%q) = %q, want %q", in, got, want)
		}
	}
}
