package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/podvm-migrate/podvm-migrate/testenv/libvirtd"
)

func TestPodVMCommandErrors(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to start libvirtd")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := libvirtd.Ensure(ctx, ""); err != nil {
		t.Fatal(err)
	}
	state, err := os.MkdirTemp("", "podvm-cli-state-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(state) })
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"run", "oci:" + filepath.Join(state, "absent") + ":v1"}, "image not found"},
		{[]string{"run", filepath.Join(state, "absent.qcow2")}, "image not found"},
		{[]string{"logs", "t7-absent"}, "no such pod VM"},
		{[]string{"stop", "t7-absent"}, "no such pod VM"},
		{[]string{"rm", "t7-absent"}, "no such pod VM"},
		{[]string{"list", "--connect", "qemu:///system?socket=/nonexistent/sock"}, "libvirtd -d"},
	}
	for _, c := range cases {
		_, errs, code := execute(t, append(c.args, "--state-dir", state)...)
		if code != exitError || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, %q: want exit %d mentioning %q", c.args, code, errs, exitError, c.want)
		}
	}
	out, errs, code := execute(t, "list", "--state-dir", state, "-o", "table")
	if code != exitOK || !strings.HasPrefix(out, "NAME") {
		t.Errorf("list: exit %d %s %s", code, out, errs)
	}
	out, errs, code = execute(t, "list", "--state-dir", state, "-o", "json")
	if code != exitOK || strings.TrimSpace(out) != "[]" {
		t.Errorf("list -o json without pod VMs: exit %d %q %s; want []", code, out, errs)
	}
}

// TestStateDirDefault: every command with --state-dir (migrate too) takes
// its default from $PODVM_STATE_DIR.
func TestStateDirDefault(t *testing.T) {
	want := filepath.Join(t.TempDir(), "state")
	t.Setenv("PODVM_STATE_DIR", want)
	seen := map[string]bool{}
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		if f := c.Flags().Lookup("state-dir"); f != nil {
			seen[c.Name()] = true
			if f.DefValue != want {
				t.Errorf("%s --state-dir defaults to %q, want $PODVM_STATE_DIR %q", c.CommandPath(), f.DefValue, want)
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCommand())
	for _, name := range []string{"migrate", "run", "list", "logs", "stop", "rm"} {
		if !seen[name] {
			t.Errorf("%s has no --state-dir", name)
		}
	}
}
