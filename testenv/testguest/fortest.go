package testguest

import (
	"context"
	"os"
	"sync"
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

// Shared builds the test guest at most once for a whole test binary, for
// packages whose tests all read the same guest files. Call Remove from
// TestMain after m.Run.
type Shared struct {
	Prefix  string  // of the temporary folder, e.g. "podvm-convert-guest-"
	Options Options // of the build; OutDir is Shared's own folder

	once sync.Once
	dir  string
	err  error
}

// Get builds the guest on first use and returns it; a failed build fails
// every test that asks.
func (s *Shared) Get(t testing.TB) *Guest {
	t.Helper()
	testtool.Require(t, "qemu-img", "mkfs.vfat", "syslinux", "mcopy", "dpkg-deb")
	s.once.Do(func() {
		if s.dir, s.err = os.MkdirTemp("", s.Prefix); s.err != nil {
			return
		}
		o := s.Options
		o.OutDir = s.dir
		_, s.err = Build(context.Background(), o)
	})
	if s.err != nil {
		t.Fatalf("build test guest: %v", s.err)
	}
	return &Guest{Dir: s.dir}
}

// Remove deletes the guest's folder, if one was made.
func (s *Shared) Remove() {
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
}
