package convert

import (
	"context"
	"testing"

	"github.com/podvm-migrate/podvm-migrate/testenv"
)

// TestRealGuest converts the bootable test guest that testenv builds, in
// the VMDK forms a datastore or an OVA holds, and compares every target
// with qemu-img and with the SHA-256 of the raw guest disk.
func TestRealGuest(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the test guest")
	}
	requireTools(t, "qemu-img", "mkfs.vfat", "syslinux", "mcopy", "dpkg-deb")
	dir := t.TempDir()
	g, err := testenv.BuildGuest(context.Background(), testenv.GuestOptions{OutDir: dir})
	if err != nil {
		t.Fatalf("build test guest: %v", err)
	}
	want := sha256File(t, g.Path(testenv.GuestRaw))
	for _, name := range []string{testenv.GuestVMDK, testenv.GuestStream, testenv.GuestRaw} {
		t.Run(name, func(t *testing.T) {
			convertAndCheck(t, g.Path(name), want)
		})
	}
}
