// Package testtool holds what tests across the project need from the host:
// its tools, found and run.
package testtool

import (
	"os/exec"
	"strings"
	"testing"
)

// Require fails the test when a host tool is missing: `make deps` installs
// every one the tests use.
func Require(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed: run 'make deps'", tool)
		}
	}
}

// Run runs a command and returns its combined output; it fails the test,
// with that output, when the command fails.
func Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}
