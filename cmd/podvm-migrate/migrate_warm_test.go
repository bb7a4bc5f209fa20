package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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

// TestCutoverRequest leaves the requests a running warm migration polls.
func TestCutoverRequest(t *testing.T) {
	runDir := t.TempDir()
	if _, stderr, code := execute(t, "cutover", runDir); code == exitOK || !strings.Contains(stderr, "not a run directory") {
		t.Errorf("cutover of a folder without a journal: exit %d, %q", code, stderr)
	}
	if err := os.WriteFile(filepath.Join(runDir, "events.jsonl"), nil, 0o644); err != nil {
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
	if _, stderr, code := execute(t, "cutover", runDir, "../x"); code == exitOK || !strings.Contains(stderr, "not a VM name") {
		t.Errorf("cutover ../x: exit %d, %q", code, stderr)
	}
}
