package libvirtd

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/podvm-migrate/podvm-migrate/internal/testtool"
)

// EnsureForTest makes sure libvirtd answers at uri (default
// qemu:///system) for a test. It skips the test when qemu:///system is
// wanted and the test does not run as root, which starting the daemons
// needs, and fails it when the daemons are missing or do not answer.
// Daemons it starts keep running after the test, on purpose: other test
// binaries of the same run share them, and there is no systemd to start
// them again.
func EnsureForTest(t testing.TB, uri string) *Status {
	t.Helper()
	if (uri == "" || uri == "qemu:///system") && os.Geteuid() != 0 {
		t.Skip("starting libvirtd for qemu:///system needs root")
	}
	testtool.Require(t, "libvirtd", "virtlogd")
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	st, err := Ensure(ctx, uri)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Started) > 0 {
		t.Logf("libvirtd: started %v; %s answers", st.Started, st.URI)
	}
	return st
}
