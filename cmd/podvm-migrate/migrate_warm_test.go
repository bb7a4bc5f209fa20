package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/podvm-migrate/podvm-migrate/discover"
)

// TestWarmFlagsUsage refuses warm flags that cannot work, before anything
// connects.
func TestWarmFlagsUsage(t *testing.T) {
	dir := t.TempDir()
	planFile := filepath.Join(dir, "plan.yaml")
	if err := os.WriteFile(planFile, []byte("apiVersion: podvm-migrate/v1\nkind: Plan\nvms: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--cutover-after", "3"}, "need --warm"},
		{[]string{"--enable-cbt"}, "need --warm"},
		{[]string{"--warm", "--cutover-at", "tomorrow"}, "RFC 3339"},
		{[]string{"--warm", "--precopy-interval", "0s"}, "--precopy-interval"},
		{[]string{"--warm", "--cutover-after", "-1"}, "--cutover-after"},
	}
	for _, c := range cases {
		args := append([]string{"migrate", planFile, "--run-dir", filepath.Join(dir, "run")}, c.args...)
		_, stderr, code := execute(t, args...)
		if code != exitUsage || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, %q; want %d and %q", c.args, code, stderr, exitUsage, c.want)
		}
	}
}

// TestCutoverRequest leaves the requests a running warm migration polls,
// and refuses requests nothing would read: no migrate running, a VM not in
// the run, a VM copied cold.
func TestCutoverRequest(t *testing.T) {
	runDir := t.TempDir()
	if _, stderr, code := execute(t, "cutover", runDir); code == exitOK || !strings.Contains(stderr, "not a run directory") {
		t.Errorf("cutover of a folder without a journal: exit %d, %q", code, stderr)
	}
	inv := writeInventory(t, planVM("web-1", "00:50:56:00:00:01"), planVM("db-1", "00:50:56:00:00:02"), planVM("app-1", "00:50:56:00:00:03"))
	if _, stderr, code := execute(t, "plan", inv, "--out", filepath.Join(runDir, "plan.yaml")); code != exitOK {
		t.Fatalf("plan: %s", stderr)
	}
	journal := `{"time":"2026-12-06T01:00:00Z","phase":"run","result":"started"}
{"time":"2026-12-06T01:00:01Z","vm":"app-1","phase":"precopy","result":"skipped","attrs":{"note":"migrated cold: the source VM is poweredOff"}}
`
	if err := os.WriteFile(filepath.Join(runDir, "events.jsonl"), []byte(journal), 0o644); err != nil {
		t.Fatal(err)
	}
	// A finished run: no migrate holds the run directory.
	if _, stderr, code := execute(t, "cutover", runDir, "web-1"); code != exitError || !strings.Contains(stderr, "no migrate is running") {
		t.Errorf("cutover of a finished run: exit %d, %q", code, stderr)
	}
	// A running migrate holds the run directory's lock (as migrate does).
	lock, err := os.OpenFile(filepath.Join(runDir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := execute(t, "cutover", runDir, "web-1", "db-1", "-o", "json")
	if code != exitOK || !strings.Contains(out, `"vm": "web-1"`) {
		t.Fatalf("cutover: exit %d, %q %q", code, out, stderr)
	}
	for _, vm := range []string{"web-1", "db-1"} {
		if _, err := os.Stat(filepath.Join(runDir, "cutover", vm)); err != nil {
			t.Errorf("no request for %s: %v", vm, err)
		}
	}
	for _, c := range []struct {
		vm, want string
	}{
		{"nosuchvm", "nosuchvm is not in the run's plan"},
		{"app-1", "app-1 is not migrated warm"},
		{"../x", "not in the run's plan"},
	} {
		_, stderr, code := execute(t, "cutover", runDir, c.vm)
		if code != exitError || !strings.Contains(stderr, c.want) {
			t.Errorf("cutover %s: exit %d, %q; want %q", c.vm, code, stderr, c.want)
		}
		if _, err := os.Stat(filepath.Join(runDir, "cutover", c.vm)); err == nil {
			t.Errorf("cutover %s: a request was left", c.vm)
		}
	}
}

// TestMigrateRefusesUnknownOrBlockedVM: a --vm that is not in the plan, or
// is blocked, is bad usage found before anything is made.
func TestMigrateRefusesUnknownOrBlockedVM(t *testing.T) {
	dir := t.TempDir()
	blocked := planVM("db01", "00:50:56:00:00:02")
	blocked.Hardware.Disks[0].RDM = &discover.RDM{Compatibility: "physicalMode"}
	inv := writeInventory(t, planVM("web01", "00:50:56:00:00:01"), blocked)
	planFile := filepath.Join(dir, "plan.yaml")
	if _, stderr, code := execute(t, "plan", inv, "--out", planFile); code != exitOK && code != exitBlocked {
		t.Fatalf("plan: %d %s", code, stderr)
	}
	for _, c := range []struct{ vm, want string }{
		{"nosuchvm", "--vm nosuchvm: not in the plan (its VMs: web01, db01)"},
		{"db01", "--vm db01: blocked in the plan"},
	} {
		runDir := filepath.Join(dir, "run-"+c.vm)
		out, stderr, code := execute(t, "migrate", planFile, "--run-dir", runDir, "--vm", c.vm)
		if code != exitUsage || !strings.Contains(stderr, c.want) {
			t.Errorf("--vm %s: exit %d, %q; want %d and %q", c.vm, code, stderr, exitUsage, c.want)
		}
		if out != "" {
			t.Errorf("--vm %s printed %q", c.vm, out)
		}
		if _, err := os.Stat(runDir); !os.IsNotExist(err) {
			t.Errorf("--vm %s made the run directory: %v", c.vm, err)
		}
	}
}
