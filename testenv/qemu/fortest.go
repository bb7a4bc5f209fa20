package qemu

import (
	"io"
	"strings"
	"testing"

	"github.com/podvm-migrate/podvm-migrate/internal/testtool"
	"github.com/podvm-migrate/podvm-migrate/testenv"
)

// AccelForTest returns the accelerator a test should boot with: kvm when a
// smoke boot of kernel and initrd (e.g. the test guest's vmlinuz and
// initrd.img) under KVM gets ready, tcg otherwise. The verdict is cached
// in testenv.DefaultCacheDir() and logged to the test. It fails the test
// when QEMU is missing (make deps installs it); a host without KVM is no
// reason to skip, only to run under TCG.
func AccelForTest(t testing.TB, kernel, initrd string) string {
	t.Helper()
	testtool.Require(t, "qemu-system-x86_64")
	p, err := ResolveAccel(t.Context(), "auto", testenv.DefaultCacheDir(), kernel, initrd)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("accelerator: %s (%s)", p.Accel, p.Reason)
	return p.Accel
}

// BootForTest boots o for a test and fails the test, showing the serial
// console, when the guest does not print its readiness line. o.Accel must
// be kvm or tcg (see AccelForTest). QEMU has exited when it returns.
func BootForTest(t testing.TB, o BootOptions) *BootResult {
	t.Helper()
	testtool.Require(t, "qemu-system-x86_64")
	var serial strings.Builder
	if o.Serial != nil {
		o.Serial = io.MultiWriter(o.Serial, &serial)
	} else {
		o.Serial = &serial
	}
	res, err := Boot(t.Context(), o)
	if err != nil {
		t.Fatalf("%v\nserial console:\n%s", err, serial.String())
	}
	return res
}
