// Package testtool holds what tests across the project need from the host:
// its tools, found and run.
package testtool

import (
	"os"
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

// LibvirtDir makes a temporary folder that the libvirt-qemu user can read
// (mode 0755, where t.TempDir and os.MkdirTemp give 0700), for disks,
// images and state that QEMU opens. It is removed when the test ends.
func LibvirtDir(t testing.TB, prefix string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}
