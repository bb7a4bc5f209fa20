package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDiscoverTellsWhatHappened: what discover prints when nothing
// matches, when one VM is written, when a password is missing, and when a
// descriptor names a file outside its folder.
func TestDiscoverTellsWhatHappened(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "one.vmx"), []byte("displayName = \"one\"\r\nmemSize = \"1024\"\r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	escape := filepath.Join("..", "..", "discover", "vmx", "testdata", "estate", "escape")
	cases := []struct {
		name       string
		env        map[string]string
		args       []string
		code       int
		stderr     []string
		notStderr  string
		wantOutput string // a file --out must have written
	}{
		{"no VM matched", nil, []string{"discover", "--vmx", dir, "--name", "nosuch", "-o", "json"}, exitError,
			[]string{`no VM matched --name "nosuch"`}, "", ""},
		{"one VM written", nil, []string{"discover", "--vmx", dir, "--out", filepath.Join(dir, "inv.json")}, exitOK,
			[]string{"discover: 1 VM written to"}, "1 VMs", filepath.Join(dir, "inv.json")},
		{"user without password", map[string]string{"GOVC_URL": "https://127.0.0.1:9/sdk", "GOVC_USERNAME": "admin", "GOVC_PASSWORD": ""},
			[]string{"discover", "-o", "json"}, exitUsage, []string{"no password given for admin", "GOVC_PASSWORD", "--password-file"}, "wrong user name", ""},
		{"descriptor escapes its folder", nil, []string{"discover", "--vmx", escape, "-o", "json"}, exitOK,
			[]string{`escape.vmdk: line 9: extent file`, "refused: outside the descriptor's folder"}, "", ""},
		{"--allow-path lets it out", nil, []string{"discover", "--vmx", escape, "--allow-path", "/etc", "-o", "json"}, exitOK,
			nil, "refused", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, k := range []string{"GOVC_URL", "GOVC_USERNAME", "GOVC_PASSWORD"} {
				t.Setenv(k, c.env[k])
			}
			_, stderr, code := execute(t, c.args...)
			if code != c.code {
				t.Errorf("exit %d, want %d\n%s", code, c.code, stderr)
			}
			for _, s := range c.stderr {
				if !strings.Contains(stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, stderr)
				}
			}
			if c.notStderr != "" && strings.Contains(stderr, c.notStderr) {
				t.Errorf("stderr has %q:\n%s", c.notStderr, stderr)
			}
			if c.wantOutput != "" {
				if _, err := os.Stat(c.wantOutput); err != nil {
					t.Error(err)
				}
			}
		})
	}
}
