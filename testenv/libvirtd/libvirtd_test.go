package libvirtd

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/podvm-migrate/podvm-migrate/internal/testtool"
)

func TestEnsure(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("starting libvirtd for qemu:///system needs root")
	}
	testtool.Require(t, "libvirtd", "virtlogd")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := Ensure(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if st.URI != "qemu:///system" || st.LibvirtVersion == "" || st.HypervisorVer == "" {
		t.Errorf("status %+v", st)
	}
	// A second call finds the daemons running and starts nothing.
	st, err = Ensure(ctx, "")
	if err != nil || len(st.Started) != 0 {
		t.Errorf("second call: %+v, %v", st, err)
	}
}

func TestEnsureForTest(t *testing.T) {
	st := EnsureForTest(t, "")
	if st.URI != "qemu:///system" || st.LibvirtVersion == "" {
		t.Errorf("status %+v", st)
	}
}
