package convert

import (
	"os"
	"testing"

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

// sharedGuest is the BIOS test guest, built once for the whole package.
var sharedGuest = testguest.Shared{Prefix: "podvm-convert-guest-"}

func testGuest(t *testing.T) *testguest.Guest { return sharedGuest.Get(t) }

func TestMain(m *testing.M) {
	code := m.Run()
	sharedGuest.Remove()
	os.Exit(code)
}
