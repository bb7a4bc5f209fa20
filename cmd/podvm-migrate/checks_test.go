package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podvm-migrate/podvm-migrate/internal/testtool"
	"github.com/podvm-migrate/podvm-migrate/plan"
	"github.com/podvm-migrate/podvm-migrate/reports"
	"github.com/podvm-migrate/podvm-migrate/runtime"
	"github.com/podvm-migrate/podvm-migrate/testenv/libvirtd"
	"github.com/podvm-migrate/podvm-migrate/testenv/testguest"
)

func TestPlanCheckFlag(t *testing.T) {
	inv := writeInventory(t, planVM("web01", "00:50:56:00:00:01"), planVM("db01", "00:50:56:00:00:02"))
	out := filepath.Join(t.TempDir(), "plan.yaml")
	if _, stderr, code := execute(t, "plan", inv, "--check", "*=tcp:22", "--check", "web*=http://:8080/health=200", "--check", "db01=ping", "--out", out); code != exitOK {
		t.Fatalf("plan --check: exit %d: %s", code, stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.UnmarshalPlan(b)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, vm := range p.VMs {
		got[vm.Name] = strings.Join(vm.Checks, " ")
	}
	if got["web01"] != "tcp:22 http://:8080/health=200" || got["db01"] != "tcp:22 ping" {
		t.Errorf("checks %v", got)
	}

	for _, c := range []struct{ flag, want string }{
		{"tcp:22", "--check \"tcp:22\": want VMGLOB=CHECK"},
		{"web01=tcp:http", `port "http"`},
		{"web01=smtp:25", "want tcp:PORT, ping, or http(s)://"},
		{"typo*=ping", "--check typo*=ping: no VM of that name"},
	} {
		if _, stderr, code := execute(t, "plan", inv, "--check", c.flag); code != exitUsage || !strings.Contains(stderr, c.want) {
			t.Errorf("--check %s: exit %d, stderr %q; want %d and %q", c.flag, code, stderr, exitUsage, c.want)
		}
	}
	// A bad check written into the plan by hand is refused by migrate,
	// naming the VM and the field.
	bad := strings.Replace(string(b), "- ping", "- ping 10.0.0.1", 1)
	badFile := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(badFile, []byte(bad), 0o644)
	if _, stderr, code := execute(t, "migrate", badFile, "--run-dir", filepath.Join(t.TempDir(), "run")); code != exitError ||
		!strings.Contains(stderr, "vms[1] (db01).checks[1]") || !strings.Contains(stderr, `"ping 10.0.0.1"`) {
		t.Errorf("migrate with a bad check: exit %d, %s", code, stderr)
	}
}

// TestMigrateChecksOnTheRuntime migrates the test guest, which serves
// nothing, with checks: its tcp:22 check must fail the VM (exit status and
// report say so) and its ping must be skipped on user networking, while a
// VM without checks migrates.
func TestMigrateChecksOnTheRuntime(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("migrating to the runtime starts libvirtd for qemu:///system and needs root")
	}
	ctx := context.Background()
	if _, err := libvirtd.Ensure(ctx, ""); err != nil {
		t.Fatal(err)
	}
	dir := testtool.LibvirtDir(t, "podvm-migrate-checks-")
	guest := filepath.Join(dir, "guest")
	if _, err := testguest.Build(ctx, testguest.Options{OutDir: guest}); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	rt, err := runtime.New(ctx, runtime.WithStateDir(state))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, name := range []string{"chk-served", "chk-plain"} {
			rt.Remove(context.Background(), name, true)
		}
		rt.Close()
	}()
	served, plain := planVM("chk-served", "00:50:56:00:03:01"), planVM("chk-plain", "00:50:56:00:03:02")
	served.Hardware.MemoryMiB, plain.Hardware.MemoryMiB = 256, 256
	served.Hardware.Disks[0].File, plain.Hardware.Disks[0].File = filepath.Join(guest, testguest.VMDK), filepath.Join(guest, testguest.VMDK)
	inv := writeInventory(t, served, plain)
	planFile := filepath.Join(dir, "plan.yaml")
	if _, stderr, code := execute(t, "plan", inv, "--check", "chk-served=tcp:22", "--check", "chk-served=ping", "--out", planFile); code != exitOK {
		t.Fatalf("plan: %d %s", code, stderr)
	}
	runDir := filepath.Join(dir, "run")
	stdout, stderr, code := execute(t, "migrate", planFile, "--run-dir", runDir, "--state-dir", state, "--check-timeout", "15s", "-o", "json")
	if code != exitError || !strings.Contains(stderr, "1 of 2 VMs failed: chk-served") {
		t.Fatalf("migrate: exit %d, want %d with chk-served failed\nstderr: %s\nstdout: %s", code, exitError, stderr, stdout)
	}
	// The check failed for the right reason: QEMU's forward accepted, the
	// guest closed the connection.
	var failed, skipped bool
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var e struct {
			VM, Phase, Result, Error string
			Check                 *struct{ Check, Outcome, Target, Detail string }
		}
		if json.Unmarshal([]byte(line), &e) != nil || e.Phase != "check" || e.Check == nil {
			continue
		}
		switch e.Check.Check {
		case "tcp:22":
			failed = e.VM == "chk-served" && e.Result == "failed" && strings.HasPrefix(e.Check.Target, "127.0.0.1:") &&
				strings.Contains(e.Check.Detail, "nothing listens on that guest port")
		case "ping":
			skipped = e.Result == "skipped" && strings.Contains(e.Check.Detail, "slirp")
		}
		t.Logf("%s %s: %s %s", e.VM, e.Check.Check, e.Check.Outcome, e.Check.Detail)
	}
	if !failed || !skipped {
		t.Errorf("check events: tcp:22 failed as closed %v, ping skipped %v\n%s", failed, skipped, stdout)
	}

	// The report says so, in JSON and in HTML.
	js, stderr, code := execute(t, "report", runDir, "--format", "json", "--out", "-")
	if code != exitOK {
		t.Fatalf("report: %d %s", code, stderr)
	}
	var rep reports.Report
	if err := json.Unmarshal([]byte(js), &rep); err != nil {
		t.Fatal(err)
	}
	status := map[string]reports.VMPerf{}
	for _, v := range rep.Performance.VMs {
		status[v.Name] = v
	}
	if v := status["chk-served"]; v.Status != "failed" || len(v.Checks) != 2 || v.Checks[0].Outcome != "failed" || v.Checks[1].Outcome != "skipped" {
		t.Errorf("report: chk-served %+v", v)
	}
	if v := status["chk-plain"]; v.Status != "ready" || len(v.Checks) != 0 {
		t.Errorf("report: chk-plain %+v", v)
	}
	html, err := os.ReadFile(filepath.Join(runDir, "report.html"))
	if err != nil || !strings.Contains(string(html), "Post-migration checks") || !strings.Contains(string(html), "nothing listens on that guest port") {
		t.Errorf("report.html lacks the failed check: %v", err)
	}
	// The pod VM published the checked port on the host's loopback.
	pod, err := rt.Get(ctx, "chk-served")
	if err != nil || len(pod.Publish) != 1 || pod.Publish[0].GuestPort != 22 || pod.Publish[0].HostAddr != "127.0.0.1" {
		t.Errorf("chk-served forwards %+v, %v", pod, err)
	}
}
