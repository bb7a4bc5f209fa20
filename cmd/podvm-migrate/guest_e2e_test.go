package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/podvm-migrate/podvm-migrate/convert/guest"
	"github.com/podvm-migrate/podvm-migrate/internal/testtool"
	"github.com/podvm-migrate/podvm-migrate/podvm"
	"github.com/podvm-migrate/podvm-migrate/runtime"
	"github.com/podvm-migrate/podvm-migrate/testenv/debian"
	"github.com/podvm-migrate/podvm-migrate/testenv/libvirtd"
)

// slowTests enables the tests that boot the real Debian guest: a cold
// Debian build takes about 5 minutes, the guest conversion under TCG about
// 5, and each boot 1-2. `make test` builds the guest first and sets it.
const slowTests = "PODVM_SLOW_TESTS"

// bootTimeout bounds each Debian boot under TCG (it is ready in about a
// minute on pvscsi; without virtio drivers it gives up on its root disk
// after initramfs-tools' 30 seconds).
const bootTimeout = 5 * time.Minute

// rootMissing is what the guest's serial console shows when its initramfs
// cannot find the root disk: initramfs-tools gives up and drops to its shell.
var rootMissing = regexp.MustCompile(`Gave up waiting for root|ALERT! .* does not exist|\(initramfs\)`)

// TestDebianGuestConversion proves guest conversion on a real distribution:
// the VMware-installed Debian guest does not boot under virtio as it is,
// and boots after `podvm-migrate convert disk --guest-conversion=always`,
// with open-vm-tools gone and virtio drivers in its initramfs.
func TestDebianGuestConversion(t *testing.T) {
	if os.Getenv(slowTests) != "1" {
		t.Skipf("set %s=1 (make test does, after building the guest with 'podvm-testenv debian'): boots a real Debian guest twice and converts it, about 10 minutes under TCG", slowTests)
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: libvirtd for qemu:///system, debootstrap and libguestfs")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	g, err := debian.Cached("", 0)
	if err != nil {
		start := time.Now()
		if g, err = debian.Build(ctx, debian.Options{Log: t.Logf}); err != nil {
			t.Fatal(err)
		}
		t.Logf("built the Debian guest in %s", time.Since(start).Round(time.Second))
	}
	if _, err := libvirtd.Ensure(ctx, ""); err != nil {
		t.Fatal(err)
	}
	dir := testtool.LibvirtDir(t, "podvm-guestconv-")
	rt, err := runtime.New(ctx, runtime.WithStateDir(filepath.Join(dir, "state")))
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	verdict, err := rt.ResolveAccel(ctx, "auto", "", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("accelerator %s (%s)", verdict.Accel, verdict.Reason)
	vmdk := g.Path(debian.VMDK)
	// Domain names are global to libvirt: unique ones survive a crashed run.
	suffix := fmt.Sprintf("-%d", time.Now().UnixNano()%1e6)

	// As it is: copied, not converted.
	plain := filepath.Join(dir, "plain.qcow2")
	if _, errs, code := execute(t, "convert", "disk", "--no-progress", "--guest-conversion=never", vmdk, plain); code != exitOK {
		t.Fatalf("convert disk (never): exit %d: %s", code, errs)
	}
	// Boot it while the converted copy is made: both take minutes.
	type bootOutcome struct {
		line, log string
		after     time.Duration
		err       error
	}
	plainBoot := make(chan bootOutcome, 1)
	go func() {
		line, log, after, err := bootDebian(ctx, rt, "podvm-test-debian-plain"+suffix, plain, verdict.Accel, g.CapacityBytes)
		plainBoot <- bootOutcome{line, log, after, err}
	}()

	converted := filepath.Join(dir, "converted.qcow2")
	start := time.Now()
	out, errs, code := execute(t, "convert", "disk", "--no-progress", "--guest-conversion=always", "--guest-accel", verdict.Accel,
		"-o", "json", vmdk, converted)
	if code != exitOK {
		t.Fatalf("convert disk (always): exit %d: %s", code, errs)
	}
	convTime := time.Since(start)
	var res struct {
		Seconds         float64
		GuestConversion struct {
			guest.Decision
			guest.Result
		}
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	gc := res.GuestConversion
	t.Logf("convert disk with guest conversion: %s (copy %.1fs, virt-v2v-in-place %s on %s); inspected %+v; removed %v; initramfs modules %v; first boot %v; warnings %q",
		convTime.Round(time.Second), res.Seconds, gc.Duration.Round(time.Second), gc.Accel, gc.Inspection, gc.Removed, gc.InitramfsModules, gc.FirstBoot, gc.Warnings)
	if !gc.Convert || gc.Inspection.Distro != "debian" || !has(gc.Removed, "open-vm-tools") || !has(gc.InitramfsModules, "virtio_blk") {
		t.Errorf("guest conversion result: %+v", gc)
	}

	pb := <-plainBoot
	t.Logf("without conversion: %v after %s", pb.err, pb.after.Round(time.Second))
	switch {
	case pb.err == nil:
		t.Errorf("the unconverted guest reached its readiness line under virtio: %s", pb.line)
	case !rootMissing.MatchString(pb.log):
		t.Errorf("the unconverted guest failed (%v) but its serial log does not show a missing root disk:\n%s", pb.err, tail(pb.log, 3000))
	default:
		t.Logf("unconverted guest, serial log: %s", rootMissing.FindString(pb.log))
	}

	inspectConverted(ctx, t, converted, g.Kernel, verdict.Accel)

	line, log, after, err := bootDebian(ctx, rt, "podvm-test-debian-converted"+suffix, converted, verdict.Accel, g.CapacityBytes)
	if err != nil {
		t.Fatalf("the converted guest did not boot: %v\n%s", err, tail(log, 3000))
	}
	t.Logf("converted guest ready after %s: %s", after.Round(time.Second), line)
	for _, want := range []string{"open-vm-tools=absent", "root=/dev/vda1"} {
		if !strings.Contains(line, want) {
			t.Errorf("readiness line %q lacks %s", line, want)
		}
	}
}

// bootDebian runs a disk on the runtime with virtio devices, as the plan
// gives a Linux guest, and waits for the readiness line or a missing root.
func bootDebian(ctx context.Context, rt *runtime.Runtime, name, disk, accel string, capacity int64) (line, log string, after time.Duration, err error) {
	spec := podvm.DefaultSpec(name, capacity)
	spec.MemoryMiB = 1024
	spec.Guest = podvm.Guest{OSID: "debian12_64Guest", Family: "linux"}
	p, err := rt.Run(ctx, runtime.MachineConfig{Name: name, Image: disk, Spec: &spec, Accel: accel})
	if err != nil {
		return "", "", 0, err
	}
	defer rt.Remove(context.Background(), name, true)
	start := time.Now()
	for time.Since(start) < bootTimeout {
		b, _ := os.ReadFile(p.SerialLog)
		log = string(b)
		if i := strings.Index(log, runtime.DefaultReadyLine); i >= 0 {
			line, _, _ = strings.Cut(log[i:], "\n")
			return strings.TrimSpace(line), log, time.Since(start), nil
		}
		if m := rootMissing.FindString(log); m != "" {
			// initramfs-tools prints its shell prompt right after giving up.
			time.Sleep(2 * time.Second)
			b, _ = os.ReadFile(p.SerialLog)
			return "", string(b), time.Since(start), fmt.Errorf("root disk not found: %q", m)
		}
		select {
		case <-ctx.Done():
			return "", log, time.Since(start), ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return "", log, time.Since(start), errors.New("no readiness line within " + bootTimeout.String())
}

// inspectConverted looks into the converted disk with guestfish: VMware's
// tools are gone and the initramfs holds the virtio drivers.
func inspectConverted(ctx context.Context, t *testing.T, disk, kernel, accel string) {
	t.Helper()
	start := time.Now()
	script := fmt.Sprintf("exists /usr/bin/vmtoolsd\nsh \"lsinitramfs /boot/initrd.img-%s | grep -c -E 'virtio_(blk|pci|scsi|net)[.]ko'\"\n", kernel)
	cmd := exec.CommandContext(ctx, "guestfish", "--ro", "-a", disk, "-i")
	cmd.Env = guest.Environ(os.Environ(), accel, guest.DefaultCacheDir())
	cmd.Stdin = strings.NewReader(script)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("guestfish: %v\n%s", err, out)
	}
	lines := strings.Fields(string(out))
	t.Logf("guestfish in %s: vmtoolsd exists=%s, virtio modules in the initramfs=%s", time.Since(start).Round(time.Second), at(lines, 0), at(lines, 1))
	if at(lines, 0) != "false" {
		t.Errorf("open-vm-tools still installed: guestfish said %q", out)
	}
	if n := at(lines, 1); n == "" || n == "0" {
		t.Errorf("no virtio drivers in the initramfs: guestfish said %q", out)
	}
}

func has(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func at(list []string, i int) string {
	if i < len(list) {
		return list[i]
	}
	return ""
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
