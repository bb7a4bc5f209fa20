package testguest

import (
	"context"
	"testing"
	"time"

	"github.com/podvm-migrate/podvm-migrate/internal/testtool"
)

// BuildForTest builds the test guest for one test, into a temporary folder
// of the test unless o.OutDir is set, logging to the test unless o.Log is
// set. It fails the test when a build tool is missing (make deps installs
// them) or the build fails; the temporary folder goes when the test ends.
func BuildForTest(t testing.TB, o Options) *Guest {
	t.Helper()
	testtool.Require(t, "qemu-img", "mkfs.vfat", "syslinux", "mcopy", "dpkg-deb")
	if o.OutDir == "" {
		o.OutDir = t.TempDir()
	}
	if o.Log == nil {
		o.Log = t.Logf
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	g, err := Build(ctx, o)
	if err != nil {
		t.Fatalf("build the test guest: %v", err)
	}
	return g
}
