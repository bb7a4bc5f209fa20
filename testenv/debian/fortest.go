package debian

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/podvm-migrate/podvm-migrate/internal/testtool"
)

// BuildForTest returns the Debian test guest for a test: the cached build
// of the current recipe, else a new build (several minutes), logged to the
// test unless o.Log is set. It skips the test when a build is needed and
// the test does not run as root, which debootstrap and chroot need, and
// fails it when a build tool is missing (make deps installs them) or the
// build fails. The guest stays in the cache after the test, on purpose:
// later tests and runs reuse it; tests copy or overlay its disk rather
// than change it.
func BuildForTest(t testing.TB, o Options) *Guest {
	t.Helper()
	if !o.Rebuild {
		if g, err := CachedFor(o); err == nil {
			return g
		}
	}
	if os.Geteuid() != 0 {
		t.Skip("building the Debian test guest needs root (debootstrap, chroot) and it is not cached")
	}
	testtool.Require(t, "debootstrap", "mkfs.ext4", "qemu-img")
	if o.Log == nil {
		o.Log = t.Logf
	}
	ctx, cancel := context.WithTimeout(t.Context(), 45*time.Minute)
	defer cancel()
	g, err := Build(ctx, o)
	if err != nil {
		t.Fatalf("build the Debian test guest: %v", err)
	}
	return g
}
