package runtime

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/podvm-migrate/podvm-migrate/internal/host"
	"github.com/podvm-migrate/podvm-migrate/podvm"
	"github.com/podvm-migrate/podvm-migrate/testenv/testguest"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func listening(port int) bool {
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func TestRunErrors(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	raw := filepath.Join(f.guest, testguest.Raw)
	huge := podvm.DefaultSpec("huge", 64<<20)
	huge.MemoryMiB = 64 << 20 // 64 TiB
	secure := podvm.DefaultSpec("secure", 64<<20)
	secure.Firmware = podvm.Firmware{Type: podvm.FirmwareEFI, SecureBoot: true, SMM: true}
	noSecure, err := New(ctx, WithStateDir(f.state), WithOVMFDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer noSecure.Close()

	taken := f.podName(t, "taken")
	if _, err := f.rt.Run(ctx, MachineConfig{Name: taken, Image: raw, Accel: AccelTCG, Ready: ReadyNone}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		rt   *Runtime
		cfg  MachineConfig
		want error
		text string
	}{
		{"oci layout missing", f.rt, MachineConfig{Image: "oci:" + filepath.Join(t.TempDir(), "none") + ":v1"}, ErrImageNotFound, ""},
		{"tag missing", f.rt, MachineConfig{Image: strings.TrimSuffix(f.layout, ":v1") + ":v9"}, ErrImageNotFound, ""},
		{"disk missing", f.rt, MachineConfig{Image: filepath.Join(t.TempDir(), "nope.qcow2")}, ErrImageNotFound, ""},
		// Running: plain rm would refuse it. The state folder is not the
		// default, so the hint names it.
		{"name taken", f.rt, MachineConfig{Name: taken, Image: raw}, ErrNameTaken, "'podvm-migrate rm -f " + taken + " --state-dir " + f.state + "'"},
		{"not enough memory", f.rt, MachineConfig{Name: testPrefix + "huge", Image: raw, Spec: &huge, Accel: AccelTCG}, ErrNoMemory, "MiB"},
		{"secure boot without firmware", noSecure, MachineConfig{Name: testPrefix + "secure", Image: raw, Spec: &secure, Accel: AccelTCG}, ErrUnsatisfiable, "secboot"},
		{"fast without kernel", f.rt, MachineConfig{Name: testPrefix + "fast", Image: raw, Fast: true, Accel: AccelTCG}, ErrUnsatisfiable, "--fast"},
		{"bad name", f.rt, MachineConfig{Name: "Bad_Name", Image: raw}, nil, "DNS-1123"},
		{"bad accel", f.rt, MachineConfig{Image: raw, Accel: "hvf"}, nil, "accelerator"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := c.rt.Run(ctx, c.cfg)
			if err == nil || (c.want != nil && !errors.Is(err, c.want)) || !strings.Contains(err.Error(), c.text) {
				t.Fatalf("error %v, want %v mentioning %q", err, c.want, c.text)
			}
			if c.cfg.Name != "" && c.cfg.Name != taken {
				if _, err := f.rt.Get(ctx, c.cfg.Name); err == nil {
					t.Errorf("a failed run left %s behind", c.cfg.Name)
				}
			}
		})
	}
	for _, op := range []func() error{
		func() error { return f.rt.Stop(ctx, testPrefix+"absent", 0) },
		func() error { return f.rt.Remove(ctx, testPrefix+"absent", true) },
		func() error { return f.rt.Logs(ctx, testPrefix+"absent", nil, false) },
	} {
		if err := op(); !errors.Is(err, ErrNotFound) {
			t.Errorf("operation on an absent pod VM: %v", err)
		}
	}
}

// TestCommandHint: hints name the state folder and libvirt URI when they
// are not the defaults, quoted for a shell where needed.
func TestCommandHint(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{URI: DefaultURI, StateDir: DefaultStateDir}, "podvm-migrate logs web01"},
		{Config{URI: DefaultURI, StateDir: "/srv/pods"}, "podvm-migrate logs web01 --state-dir /srv/pods"},
		{Config{URI: "qemu:///session", StateDir: "/srv/my pods"}, "podvm-migrate logs web01 --connect qemu:///session --state-dir '/srv/my pods'"},
	} {
		r := &Runtime{cfg: c.cfg}
		if got := r.Command("logs", "web01"); got != c.want {
			t.Errorf("%+v: %q, want %q", c.cfg, got, c.want)
		}
	}
}

func TestLibvirtUnavailable(t *testing.T) {
	requireRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := New(ctx, WithStateDir(t.TempDir()), WithURI("qemu:///system?socket=/nonexistent/libvirt-sock"))
	if !errors.Is(err, ErrLibvirtUnavailable) || !strings.Contains(err.Error(), "libvirtd -d") {
		t.Errorf("error %v", err)
	}
}

// TestAccelProbeThroughLibvirt smoke-boots the probe guest named by paths
// relative to the current folder (libvirt resolves none), caches the
// outcome of the boot and never leaves the probe domain behind.
func TestAccelProbeThroughLibvirt(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	state := probeState(t)
	t.Chdir(f.guest)
	rt, err := New(ctx, WithStateDir(state), WithProbeTimeout(10*time.Second), WithProbeGuest(testguest.Vmlinuz, testguest.Initrd))
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	v, err := rt.ResolveAccel(ctx, "auto", rt.cfg.ProbeKernel, rt.cfg.ProbeInitrd)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("verdict: %s (%s)", v.Accel, v.Reason)
	if (v.Accel != AccelKVM && v.Accel != AccelTCG) || v.Reason == "" || v.Cached || strings.Contains(v.Reason, "could not start") {
		t.Errorf("verdict %+v", v)
	}
	again, err := rt.ResolveAccel(ctx, "auto", "", "")
	// Without a usable /dev/kvm the verdict is made anew every time.
	if wantCached := host.KVMOpenable() == nil; err != nil || again.Cached != wantCached || again.Accel != v.Accel {
		t.Errorf("second verdict %+v, %v: want the cached one: %v", again, err, wantCached)
	}
	live, err := rt.liveDomains()
	if err != nil {
		t.Fatal(err)
	}
	for name := range live {
		if strings.Contains(name, "accel-probe") {
			t.Errorf("probe domain %s left running", name)
		}
	}
	if v, err := rt.ResolveAccel(ctx, AccelTCG, "", ""); err != nil || v.Accel != AccelTCG || v.DomainType() != "qemu" {
		t.Errorf("tcg requested: %+v, %v", v, err)
	}
}

// TestAccelProbeCannotStart: a smoke boot that cannot start (its kernel is
// not there) gives TCG for this time only: nothing is cached, so a later
// run probes again, and it is a warning, once per runtime.
func TestAccelProbeCannotStart(t *testing.T) {
	setup(t)
	if err := host.KVMOpenable(); err != nil {
		t.Skipf("no smoke boot is tried without a usable /dev/kvm: %v", err)
	}
	ctx := context.Background()
	state := probeState(t)
	var logs bytes.Buffer
	rt, err := New(ctx, WithStateDir(state), WithProbeGuest("no/such/vmlinuz", ""), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	if !filepath.IsAbs(rt.Config().ProbeKernel) {
		t.Errorf("probe kernel %q not made absolute", rt.Config().ProbeKernel)
	}
	for i := 0; i < 2; i++ {
		v, err := rt.ResolveAccel(ctx, "auto", rt.Config().ProbeKernel, "")
		if err != nil || v.Accel != AccelTCG || v.Cached || !strings.Contains(v.Reason, "no/such/vmlinuz") {
			t.Fatalf("verdict %+v, %v", v, err)
		}
	}
	if _, err := os.Stat(rt.accelCacheFile()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a probe that could not start was cached: %v", err)
	}
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 || !strings.Contains(logs.String(), "could not run") {
		t.Errorf("want one warning, got:\n%s", logs.String())
	}
}

// probeState is a state folder of its own, reachable by libvirt-qemu.
func probeState(t *testing.T) string {
	t.Helper()
	state, err := os.MkdirTemp("", "podvm-runtime-probe-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(state) })
	if err := os.Chmod(state, 0o755); err != nil {
		t.Fatal(err)
	}
	return state
}
