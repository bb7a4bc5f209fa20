package guest_test

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/podvm-migrate/podvm-migrate/convert/guest"
	"github.com/podvm-migrate/podvm-migrate/podvm"
	"github.com/podvm-migrate/podvm-migrate/runtime"
	"github.com/podvm-migrate/podvm-migrate/testenv/debian"
	"github.com/podvm-migrate/podvm-migrate/testenv/libvirtd"
)

// TestNetworkSurvivesConversion converts the Debian guests whose ifupdown
// configuration is bound to ens192 (their vmxnet3 NIC), with a static
// address and with DHCP: the conversion leaves a udev rule naming the
// NIC's MAC ens192, and the converted guest boots on virtio with its
// address on ens192, as its readiness line shows. Without the rule the
// virtio NIC gets another name, ifupdown finds no ens192 and the line
// says ip=none.
func TestNetworkSurvivesConversion(t *testing.T) {
	for _, c := range []struct {
		net, ip string // ip "": any address
	}{
		{"static:192.168.122.50/24", "192.168.122.50"},
		{"dhcp", ""},
	} {
		t.Run(c.net, func(t *testing.T) { networkSurvivesConversion(t, c.net, c.ip) })
	}
}

func networkSurvivesConversion(t *testing.T, netFlag, address string) {
	if os.Getenv("PODVM_SLOW_TESTS") != "1" {
		t.Skip("set PODVM_SLOW_TESTS=1: builds (once) and converts the real Debian guest, then boots it, several minutes under TCG")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: libguestfs' direct backend and libvirtd for qemu:///system")
	}
	net, err := debian.ParseNet(netFlag)
	if err != nil {
		t.Fatal(err)
	}
	g := debian.BuildForTest(t, debian.Options{Net: net})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Minute)
	defer cancel()
	if _, err := libvirtd.Ensure(ctx, ""); err != nil {
		t.Fatal(err)
	}
	// libvirt-qemu must reach the disk: a 0755 folder, not t.TempDir's 0700.
	dir, err := os.MkdirTemp("", "podvm-guest-netnames-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	disk := filepath.Join(dir, "debian.qcow2")
	if out, err := exec.CommandContext(ctx, "qemu-img", "convert", "-O", "qcow2", g.Path(debian.VMDK), disk).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img convert: %v: %s", err, out)
	}
	rt, err := runtime.New(ctx, runtime.WithStateDir(filepath.Join(dir, "state")))
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	verdict, err := rt.ResolveAccel(ctx, "auto", "", "")
	if err != nil {
		t.Fatal(err)
	}

	name := fmt.Sprintf("podvm-test-netnames-%s-%d", net.Mode, time.Now().UnixNano()%1e6)
	spec := podvm.DefaultSpec(name, g.CapacityBytes)
	spec.MemoryMiB = 1024
	spec.Guest = podvm.Guest{OSID: "debian12_64Guest", Family: "linux"}
	spec.NICs[0].MAC = g.Hardware.MAC
	start := time.Now()
	out, err := guest.Run(ctx, disk, &spec, guest.ModeAlways, guest.Options{Accel: verdict.Accel, CacheDir: guest.DefaultCacheDir()})
	if err != nil {
		t.Fatalf("guest conversion: %v", err)
	}
	t.Logf("guest conversion in %s on %s: NIC names %+v, warnings %q", time.Since(start).Round(time.Second), verdict.Accel, out.Result.NICNames, out.Result.Warnings)
	want := guest.NetName{Name: debian.VMwareNIC, MAC: strings.ToLower(g.Hardware.MAC)}
	if p := out.Result.NICNames; p == nil || len(p.Pinned) != 1 || p.Pinned[0] != want || p.Rules != guest.NetNamesRules {
		t.Errorf("NIC names %+v, want %v pinned in %s", p, want, guest.NetNamesRules)
	}

	// Read the rule back from the converted disk.
	cat := exec.CommandContext(ctx, "guestfish", "--ro", "-a", disk, "-i", "cat", guest.NetNamesRules)
	cat.Env = guest.Environ(os.Environ(), verdict.Accel, guest.DefaultCacheDir())
	rules, err := cat.CombinedOutput()
	if err != nil {
		t.Fatalf("guestfish cat %s: %v: %s", guest.NetNamesRules, err, rules)
	}
	if r := fmt.Sprintf(`ATTR{address}==%q, ATTR{type}=="1", NAME=%q`, want.MAC, want.Name); !strings.Contains(string(rules), r) {
		t.Errorf("%s lacks %s:\n%s", guest.NetNamesRules, r, rules)
	}

	p, err := rt.Run(ctx, runtime.MachineConfig{Name: name, Image: disk, Spec: &spec, Accel: verdict.Accel, WaitReady: true, ReadyTimeout: 10 * time.Minute})
	defer rt.Remove(context.Background(), name, true)
	if err != nil {
		var log strings.Builder
		_ = rt.Logs(ctx, name, &log, false)
		t.Fatalf("the converted guest did not boot: %v\n%s", err, log.String())
	}
	t.Logf("converted guest ready after %s: %s", time.Duration(p.ReadyAfter).Round(time.Second), p.ReadyLine)
	if testing.Verbose() {
		var log strings.Builder
		_ = rt.Logs(ctx, name, &log, false)
		t.Logf("console:\n%s", log.String())
	}
	if !strings.Contains(p.ReadyLine+" ", " nic="+debian.VMwareNIC+" ") || strings.Contains(p.ReadyLine, "ip=none") ||
		(address != "" && !strings.Contains(p.ReadyLine+" ", " ip="+address+" ")) {
		t.Errorf("readiness line %q: want nic=%s and ip=%s", p.ReadyLine, debian.VMwareNIC, cmp.Or(address, "an address"))
	}
}
