package runtime

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/podvm-migrate/podvm-migrate/podvm"
	"github.com/podvm-migrate/podvm-migrate/testenv/debian"
	"github.com/podvm-migrate/podvm-migrate/testenv/testguest"
)

// TestBootDiagnosis boots guests that cannot boot and checks the runtime
// fails them with the cause, well before the readiness timeout, and stops
// them: a blank disk under SeaBIOS and under OVMF, and the test guest's
// unsigned EFI kernel under OVMF with secure boot and Microsoft's keys.
func TestBootDiagnosis(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "podvm-runtime-blank-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	blank := filepath.Join(dir, "blank.raw")
	if err := os.WriteFile(blank, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(blank, 64<<20); err != nil {
		t.Fatal(err)
	}
	bios := podvm.DefaultSpec("blank", 64<<20)
	bios.MemoryMiB = 256
	efi := bios
	efi.Firmware = podvm.Firmware{Type: podvm.FirmwareEFI}
	secure := bios
	secure.Firmware = podvm.Firmware{Type: podvm.FirmwareEFI, SecureBoot: true, SMM: true}
	for _, c := range []struct {
		name  string
		disk  string
		spec  podvm.Spec
		cause string
		text  string
	}{
		{"blank disk bios", blank, bios, CauseNoBootDevice, "no bootable device"},
		{"blank disk efi", blank, efi, CauseNoBootDevice, "no bootable device"},
		{"unsigned loader under secure boot", filepath.Join(f.guest, testguest.Raw), secure, CauseSecureBoot, "secure boot"},
	} {
		t.Run(c.name, func(t *testing.T) {
			name := f.podName(t, "diag")
			spec := c.spec
			spec.Name = name
			// The timeout is far beyond what a diagnosis needs: a
			// diagnosed failure returns long before it.
			timeout := 4 * time.Minute
			start := time.Now()
			_, err := f.rt.Run(ctx, MachineConfig{Name: name, Image: c.disk, Spec: &spec, Accel: f.accel, WaitReady: true, ReadyTimeout: timeout})
			took := time.Since(start)
			var log strings.Builder
			_ = f.rt.Logs(ctx, name, &log, false)
			t.Logf("after %s: %v", took.Round(time.Millisecond), err)
			var bf *BootFailure
			switch {
			case err == nil:
				t.Fatalf("a guest that cannot boot was ready:\n%s", log.String())
			case !errors.Is(err, ErrNotReady) || !errors.Is(err, ErrBootFailed) || !errors.As(err, &bf):
				t.Fatalf("error %v is not a boot failure; console:\n%s", err, log.String())
			case bf.Cause != c.cause || !strings.Contains(err.Error(), c.text):
				t.Fatalf("cause %q (%v), want %q naming %q; console:\n%s", bf.Cause, err, c.cause, c.text, log.String())
			}
			if bf.Evidence == "" || !strings.Contains(log.String(), strings.TrimSuffix(bf.Evidence, "…")[:min(20, len(bf.Evidence))]) {
				t.Errorf("evidence %q is not from the console:\n%s", bf.Evidence, log.String())
			}
			t.Logf("console (end):\n%s", tailText(log.String(), 2500))
			if p, err := f.rt.Get(ctx, name); err != nil || p.State != StateStopped {
				t.Errorf("after the diagnosis the pod VM is %+v (%v), want it stopped", p, err)
			}
		})
	}
}

// TestBootDiagnosisRootDevice boots the VMware-installed Debian guest as it
// is (no guest conversion) on virtio: its initramfs has no virtio driver,
// gives up on its root disk, and the runtime says guest conversion is
// needed instead of waiting out the timeout.
func TestBootDiagnosisRootDevice(t *testing.T) {
	if os.Getenv("PODVM_SLOW_TESTS") != "1" {
		t.Skip("set PODVM_SLOW_TESTS=1: boots the real Debian guest (a minute or two under TCG)")
	}
	f := setup(t)
	g, err := debian.Cached("", 0)
	if err != nil {
		t.Skipf("the Debian guest is not cached ('podvm-testenv debian' builds it): %v", err)
	}
	ctx := context.Background()
	// libvirt-qemu cannot reach the cache under /root: link (else copy)
	// the disk into a folder it can read.
	dir, err := os.MkdirTemp("", "podvm-runtime-debian-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	disk := filepath.Join(dir, debian.VMDK)
	if err := os.Link(g.Path(debian.VMDK), disk); err != nil {
		b, err := os.ReadFile(g.Path(debian.VMDK))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(disk, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	name := f.podName(t, "diag-root")
	spec := podvm.DefaultSpec(name, g.CapacityBytes)
	spec.MemoryMiB = 1024
	spec.Guest = podvm.Guest{OSID: "debian12_64Guest", Family: "linux"}
	_, err = f.rt.Run(ctx, MachineConfig{Name: name, Image: disk, Spec: &spec, Accel: f.accel, WaitReady: true, ReadyTimeout: 10 * time.Minute})
	var log strings.Builder
	_ = f.rt.Logs(ctx, name, &log, false)
	var bf *BootFailure
	if !errors.As(err, &bf) || bf.Cause != CauseRootDevice || !strings.Contains(err.Error(), "--guest-conversion always") {
		t.Fatalf("error %v, want the root device cause naming --guest-conversion always; console:\n%s", err, log.String())
	}
	t.Logf("%v\nconsole (end):\n%s", err, tailText(log.String(), 2500))
}

func tailText(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
