package convert

import (
	"context"
	"os"
	"sync"
	"testing"

	"github.com/podvm-migrate/podvm-migrate/internal/testtool"
	"github.com/podvm-migrate/podvm-migrate/testenv/testguest"
)

// TestRealGuest converts the bootable test guest that testenv builds, in
// the VMDK forms a datastore or an OVA holds, and compares every target
// with qemu-img and with the SHA-256 of the raw guest disk.
func TestRealGuest(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the test guest")
	}
	g := testGuest(t)
	want := sumsOf(t, g.Path(testguest.Raw))
	for _, name := range []string{testguest.VMDK, testguest.Stream, testguest.Raw, testguest.OVA} {
		t.Run(name, func(t *testing.T) {
			ref := g.Path(name)
			if name == testguest.OVA {
				ref = g.Path(testguest.Raw) // qemu-img cannot open an OVA
			}
			convertAndCompare(t, g.Path(name), ref, want)
		})
	}
}

var (
	guestOnce sync.Once
	guestDir  string
	guestErr  error
)

// testGuest builds the BIOS test guest once for the whole package.
func testGuest(t *testing.T) *testguest.Guest {
	t.Helper()
	testtool.Require(t, "qemu-img", "mkfs.vfat", "syslinux", "mcopy", "dpkg-deb")
	guestOnce.Do(func() {
		if guestDir, guestErr = os.MkdirTemp("", "podvm-convert-guest-"); guestErr != nil {
			return
		}
		_, guestErr = testguest.Build(context.Background(), testguest.Options{OutDir: guestDir})
	})
	if guestErr != nil {
		t.Fatalf("build test guest: %v", guestErr)
	}
	return &testguest.Guest{Dir: guestDir}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if guestDir != "" {
		os.RemoveAll(guestDir)
	}
	os.Exit(code)
}
