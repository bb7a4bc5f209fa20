package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/podvm-migrate/podvm-migrate/discover"
	"github.com/podvm-migrate/podvm-migrate/internal/testtool"
	"github.com/podvm-migrate/podvm-migrate/plan"
	"github.com/podvm-migrate/podvm-migrate/reports"
	"github.com/podvm-migrate/podvm-migrate/runtime"
	"github.com/podvm-migrate/podvm-migrate/testenv/libvirtd"
	"github.com/podvm-migrate/podvm-migrate/testenv/testguest"
)

func TestPlanCheckFlag(t *testing.T) {
	inv := writeInventory(t, planVM("web01", "00:50:56:00:00:01"), planVM("db01", "00:50:56:00:00:02"))
	out := filepath.Join(t.TempDir(), "plan.yaml")
	if _, stderr, code := execute(t, "plan", inv, "--check", "*=tcp:22", "--check", "web*=http://:8080/health=200", "--check", "db01=ping", "--out", out); code != exitOK {
		t.Fatalf("plan --check: exit %d: %s", code, stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.UnmarshalPlan(b)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, vm := range p.VMs {
		got[vm.Name] = strings.Join(vm.Checks, " ")
	}
	if got["web01"] != "tcp:22 http://:8080/health=200" || got["db01"] != "tcp:22 ping" {
		t.Errorf("checks %v", got)
	}

	for _, c := range []struct{ flag, want string }{
		{"tcp:22", "--check \"tcp:22\": want VMGLOB=CHECK"},
		{"web01=tcp:http", `port "http"`},
		{"web01=smtp:25", "want tcp:PORT, ping, or http(s)://"},
		{"typo*=ping", "--check typo*=ping: no VM of that name"},
	} {
		if _, stderr, code := execute(t, "plan", inv, "--check", c.flag); code != exitUsage || !strings.Contains(stderr, c.want) {
			t.Errorf("--check %s: exit %d, stderr %q; want %d and %q", c.flag, code, stderr, exitUsage, c.want)
		}
	}
	// A bad check written into the plan by hand is refused by migrate,
	// naming the VM and the field.
	bad := strings.Replace(string(b), "- ping", "- ping 10.0.0.1", 1)
	badFile := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(badFile, []byte(bad), 0o644)
	if _, stderr, code := execute(t, "migrate", badFile, "--run-dir", filepath.Join(t.TempDir(), "run")); code != exitError ||
		!strings.Contains(stderr, "vms[1] (db01).checks[1]") || !strings.Contains(stderr, `"ping 10.0.0.1"`) {
		t.Errorf("migrate with a bad check: exit %d, %s", code, stderr)
	}
}

// TestMigrateChecksOnTheRuntime migrates three copies of the test guest
// with checks: one that serves HTTP on port 80 passes its tcp and http
// checks through the port forwards migrate publishes (its ping is skipped:
// user networking), one that serves nothing fails its tcp:22 check, which
// fails that VM alone (exit status and report say so), and one without
// checks migrates as before.
func TestMigrateChecksOnTheRuntime(t *testing.T) {
	if os.Getenv(slowTests) != "1" {
		t.Skipf("set %s=1: boots three test guests and waits out a failing check, about a minute under TCG", slowTests)
	}
	if os.Geteuid() != 0 {
		t.Skip("migrating to the runtime starts libvirtd for qemu:///system and needs root")
	}
	for _, tool := range []string{"cpio", "mcopy", "qemu-img"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s to make the test guest serve HTTP", tool)
		}
	}
	ctx := context.Background()
	if _, err := libvirtd.Ensure(ctx, ""); err != nil {
		t.Fatal(err)
	}
	dir := testtool.LibvirtDir(t, "podvm-migrate-checks-")
	guest := filepath.Join(dir, "guest")
	if _, err := testguest.Build(ctx, testguest.Options{OutDir: guest}); err != nil {
		t.Fatal(err)
	}
	web := httpGuest(t, guest, dir)
	state := filepath.Join(dir, "state")
	rt, err := runtime.New(ctx, runtime.WithStateDir(state))
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"chk-web", "chk-closed", "chk-plain"}
	defer func() {
		for _, name := range names {
			rt.Remove(context.Background(), name, true)
		}
		rt.Close()
	}()
	var vms []discover.VM
	for i, name := range names {
		vm := planVM(name, fmt.Sprintf("00:50:56:00:03:0%d", i+1))
		vm.Hardware.MemoryMiB = 256
		vm.Hardware.Disks[0].File = filepath.Join(guest, testguest.VMDK)
		vms = append(vms, vm)
	}
	vms[0].Hardware.Disks[0].File = web
	inv := writeInventory(t, vms...)
	planFile := filepath.Join(dir, "plan.yaml")
	if _, stderr, code := execute(t, "plan", inv, "--out", planFile,
		"--check", "chk-web=tcp:80", "--check", "chk-web=http://:80/health=200", "--check", "chk-web=http://:80/nothing=404", "--check", "chk-web=ping",
		"--check", "chk-closed=tcp:22"); code != exitOK {
		t.Fatalf("plan: %d %s", code, stderr)
	}
	runDir := filepath.Join(dir, "run")
	stdout, stderr, code := execute(t, "migrate", planFile, "--run-dir", runDir, "--state-dir", state, "--check-timeout", "20s", "-o", "json")
	if code != exitError || !strings.Contains(stderr, "1 of 3 VMs failed: chk-closed") {
		t.Fatalf("migrate: exit %d, want %d with chk-closed failed\nstderr: %s\nstdout: %s", code, exitError, stderr, stdout)
	}
	outcome := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var e struct {
			VM, Phase, Result string
			Check             *struct{ Check, Outcome, Target, Detail string }
		}
		if json.Unmarshal([]byte(line), &e) != nil || e.Phase != "check" || e.Check == nil {
			continue
		}
		outcome[e.VM+" "+e.Check.Check] = e.Check.Outcome + ": " + e.Check.Detail
		if e.Check.Check != "ping" && !strings.HasPrefix(e.Check.Target, "127.0.0.1:") && !strings.HasPrefix(e.Check.Target, "http://127.0.0.1:") {
			t.Errorf("%s %s probed %q, not a forward on the host's loopback", e.VM, e.Check.Check, e.Check.Target)
		}
		t.Logf("%s %s: %s %s", e.VM, e.Check.Check, e.Check.Outcome, e.Check.Detail)
	}
	for check, want := range map[string]string{
		"chk-web tcp:80":                 "passed: connected",
		"chk-web http://:80/health=200":  "passed: status 200",
		"chk-web http://:80/nothing=404": "passed: status 404",
		"chk-web ping":                   "skipped: not possible on user networking",
		"chk-closed tcp:22":              "failed: ",
	} {
		if !strings.HasPrefix(outcome[check], want) {
			t.Errorf("%s: %q, want %q…", check, outcome[check], want)
		}
	}
	if !strings.Contains(outcome["chk-closed tcp:22"], "nothing listens on that guest port") {
		t.Errorf("chk-closed tcp:22 failed for another reason: %s", outcome["chk-closed tcp:22"])
	}

	// The report says so, in JSON and in HTML.
	js, stderr, code := execute(t, "report", runDir, "--format", "json", "--out", "-")
	if code != exitOK {
		t.Fatalf("report: %d %s", code, stderr)
	}
	var rep reports.Report
	if err := json.Unmarshal([]byte(js), &rep); err != nil {
		t.Fatal(err)
	}
	perf := map[string]reports.VMPerf{}
	for _, v := range rep.Performance.VMs {
		perf[v.Name] = v
	}
	if v := perf["chk-web"]; v.Status != "ready" || len(v.Checks) != 4 {
		t.Errorf("report: chk-web %+v", v)
	}
	if v := perf["chk-closed"]; v.Status != "failed" || len(v.Checks) != 1 || v.Checks[0].Outcome != "failed" || !strings.Contains(v.Error, "tcp:22") {
		t.Errorf("report: chk-closed %+v", v)
	}
	if v := perf["chk-plain"]; v.Status != "ready" || len(v.Checks) != 0 {
		t.Errorf("report: chk-plain %+v", v)
	}
	html, err := os.ReadFile(filepath.Join(runDir, "report.html"))
	if err != nil || !strings.Contains(string(html), "Post-migration checks") || !strings.Contains(string(html), "nothing listens on that guest port") {
		t.Errorf("report.html lacks the failed check: %v", err)
	}
	// Only the checked guest ports were published, on the host's loopback.
	for name, want := range map[string][]int{"chk-web": {80}, "chk-closed": {22}, "chk-plain": nil} {
		pod, err := rt.Get(ctx, name)
		var got []int
		if err == nil {
			for _, p := range pod.Publish {
				if p.HostAddr == "127.0.0.1" {
					got = append(got, p.GuestPort)
				}
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s publishes guest ports %v (%v), want %v", name, got, err, want)
		}
	}
}

// httpGuest makes a copy of the test guest whose /init also starts
// busybox httpd on port 80 (serving /health), and returns it as a VMDK.
func httpGuest(t *testing.T, guest, dir string) string {
	t.Helper()
	sh := func(script string) {
		t.Helper()
		cmd := exec.Command("sh", "-euc", script)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", script, err, out)
		}
	}
	initrd := filepath.Join(guest, testguest.Initrd)
	sh("rm -rf web-initrd && mkdir web-initrd && cd web-initrd && gzip -dc " + initrd + " | cpio -id --quiet")
	initPath := filepath.Join(dir, "web-initrd", "init")
	b, err := os.ReadFile(initPath)
	if err != nil {
		t.Fatal(err)
	}
	script := strings.Replace(string(b), "echo \""+testguest.ReadyPrefix, "mkdir -p /www && echo ok > /www/health && httpd -p 80 -h /www\necho \""+testguest.ReadyPrefix, 1)
	if script == string(b) {
		t.Fatalf("the test guest's /init has no readiness line to start httpd before:\n%s", b)
	}
	if err := os.WriteFile(initPath, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	// The boot partition starts at sector 2048 (1 MiB).
	sh("cd web-initrd && find . | cpio -o -H newc --quiet | gzip -1 > ../web-initrd.img && cd .. && cp " + filepath.Join(guest, testguest.Raw) + " web.raw && " +
		"mcopy -o -i web.raw@@1M web-initrd.img ::/initrd.img && qemu-img convert -O vmdk web.raw web.vmdk && rm -rf web-initrd web-initrd.img web.raw")
	return filepath.Join(dir, "web.vmdk")
}
