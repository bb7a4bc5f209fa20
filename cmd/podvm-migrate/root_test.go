package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/podvm-migrate/podvm-migrate/vsphere"
)

// execute runs the command line in-process, as main does, and returns
// stdout, stderr and the exit code.
func execute(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return out.String(), errb.String(), code
}

func TestVersion(t *testing.T) {
	out, _, code := execute(t, "version", "-o", "json")
	var v versionInfo
	if code != exitOK || json.Unmarshal([]byte(out), &v) != nil || v.Version == "" || !strings.HasPrefix(v.Go, "go1.") {
		t.Fatalf("version -o json: code %d, %q", code, out)
	}
	out, _, _ = execute(t, "version")
	if !strings.HasPrefix(out, "VERSION") {
		t.Errorf("version defaults to a table, got %q", out)
	}
}

func TestUsageErrorsExitTwo(t *testing.T) {
	cases := [][]string{
		{"version", "-o", "xml"},
		{"version", "--log-level", "loud"},
		{"--no-such-flag"},
		{"version", "extra-arg"},
	}
	for _, args := range cases {
		_, errs, code := execute(t, args...)
		if code != exitUsage {
			t.Errorf("%v: exit %d (%s), want %d", args, code, errs, exitUsage)
		}
	}
}

func TestGovcEnvironmentIsReadButPasswordNeverShown(t *testing.T) {
	t.Setenv("GOVC_URL", "https://admin:hunter2@vc.example/sdk")
	t.Setenv("GOVC_PASSWORD", "hunter3")
	t.Setenv("GOVC_INSECURE", "true")
	out, _, code := execute(t, "--help")
	if code != exitOK || strings.Contains(out, "hunter") || !strings.Contains(out, "GOVC_URL") {
		t.Errorf("--help (exit %d) shows a password or lacks the env names:\n%s", code, out)
	}

	root := newRootCommand()
	if err := root.PersistentFlags().Parse([]string{"--username", "flaguser", "--ca-cert", "ca.pem"}); err != nil {
		t.Fatal(err)
	}
	flags := vsphere.Config{Username: "flaguser", CACerts: "ca.pem"}
	c := mergeVSphereEnv(root.PersistentFlags().Changed, flags, vsphere.ConfigFromEnv(os.Getenv))
	if c.URL != "https://admin:hunter2@vc.example/sdk" || c.Username != "flaguser" || c.Password != "hunter3" || !c.Insecure || c.CACerts != "ca.pem" {
		t.Errorf("merged config %#v", c)
	}
}

// TestBuildCommit: version's commit is the one linked in, else the VCS
// stamp Go recorded (marked dirty for a changed tree), else unknown.
func TestBuildCommit(t *testing.T) {
	stamp := func(kv ...string) *debug.BuildInfo {
		bi := &debug.BuildInfo{}
		for i := 0; i+1 < len(kv); i += 2 {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return bi
	}
	for _, c := range []struct {
		linked string
		bi     *debug.BuildInfo
		want   string
	}{
		{"abc123", stamp("vcs.revision", "def456"), "abc123"},
		{"", stamp("vcs.revision", "def456", "vcs.modified", "false"), "def456"},
		{"", stamp("vcs.revision", "def456", "vcs.modified", "true"), "def456-dirty"},
		{"", stamp(), ""},
		{"", nil, ""},
	} {
		if got := buildCommit(c.linked, c.bi); got != c.want {
			t.Errorf("buildCommit(%q, %+v) = %q, want %q", c.linked, c.bi, got, c.want)
		}
	}
	if rows := (versionInfo{Version: "dev"}).Rows(); rows[0][1] != "unknown" {
		t.Errorf("table commit %q, want unknown", rows[0][1])
	}
}

// TestEveryCommandHasExamples: each command that does something shows how
// it is used in its --help.
func TestEveryCommandHasExamples(t *testing.T) {
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Runnable() && c.Name() != "help" && c.Parent() != nil && c.Parent().Name() != "completion" && c.Name() != "completion" && strings.TrimSpace(c.Example) == "" {
			t.Errorf("%s --help shows no example", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCommand())
}
