package libvirtd

import (
	"context"
	"errors"
	"os"
	"strings"
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

// ErrNoBridges: this host (a container without CAP_NET_ADMIN, say) cannot
// create the network's bridge.
var ErrNoBridges = errors.New("this host cannot create network bridges")

// NetworkForTest makes sure the network runs for a test (see
// EnsureNetwork). It skips the test when not root, or when the host
// refuses to create a bridge (permission), and fails it otherwise. The
// network keeps running after the test, like the daemons.
func NetworkForTest(t testing.TB, uri string, o NetworkOptions) *NetworkStatus {
	t.Helper()
	EnsureForTest(t, uri)
	if os.Geteuid() != 0 {
		t.Skip("starting a libvirt network needs root")
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	st, err := EnsureNetwork(ctx, uri, o)
	if err != nil {
		if s := err.Error(); strings.Contains(s, "Operation not permitted") || strings.Contains(s, "Permission denied") {
			t.Skipf("%v: %v", ErrNoBridges, err)
		}
		t.Fatal(err)
	}
	if st.Defined || st.Started {
		t.Logf("libvirt network %s (bridge %s, %s): defined %v, started %v", st.Name, st.Bridge, st.Address, st.Defined, st.Started)
	}
	return st
}
