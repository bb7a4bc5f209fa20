package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/podvm-migrate/podvm-migrate/internal/testtool"
	"github.com/podvm-migrate/podvm-migrate/plan"
	"github.com/podvm-migrate/podvm-migrate/reports"
	"github.com/podvm-migrate/podvm-migrate/runrecord"
	"github.com/podvm-migrate/podvm-migrate/runtime"
	"github.com/podvm-migrate/podvm-migrate/testenv/debian"
	"github.com/podvm-migrate/podvm-migrate/testenv/libvirtd"
	"github.com/podvm-migrate/podvm-migrate/testenv/testguest"
)

// staticIP is the address the Debian guest of the static-network recipe
// configures on its VMware interface name (ens192), as an admin would.
const staticIP = "192.168.122.50"

// TestMigrateKeepsStaticIP is issue 18's first "done when": the Debian
// guest built with --net static:192.168.122.50/24, discovered from its VMX,
// planned onto libvirt's default network with a ping check and migrated
// with guest conversion, comes up at its source address: the ping check
// passes against it, logs show ip=192.168.122.50, list -o json and the
// report show the address.
func TestMigrateKeepsStaticIP(t *testing.T) {
	if os.Getenv(slowTests) != "1" {
		t.Skipf("set %s=1: converts and boots the Debian guest on libvirt's default network, about 5 minutes under TCG", slowTests)
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: libvirtd for qemu:///system, its default network and libguestfs")
	}
	netOpt, err := debian.ParseNet("static:" + staticIP + "/24")
	if err != nil {
		t.Fatal(err)
	}
	g := debian.BuildForTest(t, debian.Options{Net: netOpt})
	if g.Net != netOpt.String() {
		t.Fatalf("the cached Debian guest was built with --net %q, want %q", g.Net, netOpt)
	}
	libvirtd.NetworkForTest(t, "", libvirtd.DefaultNetworkOptions())
	dir := testtool.LibvirtDir(t, "podvm-migrate-static-")
	// Domain names are global to libvirt: a unique one survives a crashed
	// run and other workers' guests.
	name := fmt.Sprintf("static-%d", time.Now().UnixNano()%1e6)
	vmx := copyVMX(t, g.Path(debian.VMX), dir, name, g.Path(debian.VMDK), debian.VMDK)
	state := filepath.Join(dir, "state")
	t.Cleanup(func() { execute(t, "rm", "--force", name, "--state-dir", state) })

	inv := filepath.Join(dir, "inventory.json")
	if _, stderr, code := execute(t, "discover", "--vmx", vmx, "-o", "json", "--out", inv); code != exitOK {
		t.Fatalf("discover --vmx: exit %d: %s", code, stderr)
	}
	planFile := filepath.Join(dir, "plan.yaml")
	if _, stderr, code := execute(t, "plan", inv, "--network-map", "*=libvirt:default", "--check", "*=ping", "--out", planFile); code != exitOK {
		t.Fatalf("plan: exit %d: %s", code, stderr)
	}
	if b, _ := os.ReadFile(planFile); !strings.Contains(string(b), "network: libvirt:default") || !strings.Contains(string(b), "- ping") {
		t.Fatalf("the plan lacks libvirt:default or the ping check:\n%s", b)
	}
	runDir := filepath.Join(dir, "run")
	start := time.Now()
	out, stderr, code := execute(t, "migrate", planFile, "--target", "runtime", "--guest-conversion", "always",
		"--ready-timeout", "10m", "--run-dir", runDir, "--state-dir", state, "-o", "json")
	t.Logf("migrate took %s", time.Since(start).Round(time.Second))
	if code != exitOK {
		t.Fatalf("migrate: exit %d: %s\n%s", code, stderr, out)
	}

	// The run record, as the report reads it.
	js, stderr, code := execute(t, "report", runDir, "--format", "json", "--out", "-")
	if code != exitOK {
		t.Fatalf("report: exit %d: %s", code, stderr)
	}
	var rep reports.Report
	if err := json.Unmarshal([]byte(js), &rep); err != nil || len(rep.Performance.VMs) != 1 {
		t.Fatalf("report -o json: %v\n%s", err, js)
	}
	v := rep.Performance.VMs[0]
	if v.Status != "ready" || len(v.Checks) != 1 || v.Checks[0].Check != "ping" || v.Checks[0].Outcome != "passed" || v.Checks[0].Target != staticIP {
		t.Errorf("report: status %q, checks %+v; want ready with ping passed against %s", v.Status, v.Checks, staticIP)
	}
	if !has(v.Addresses, staticIP) {
		t.Errorf("report shows addresses %v, want %s", v.Addresses, staticIP)
	}
	t.Logf("report: %s %s, addresses %v, checks %+v, boot to ready %s", v.Name, v.Status, v.Addresses, v.Checks, v.BootToReady.Round(time.Second))

	logs, stderr, code := execute(t, "logs", name, "--state-dir", state)
	if code != exitOK || !regexp.MustCompile(`ip=`+regexp.QuoteMeta(staticIP)+`\b`).MatchString(logs) {
		t.Errorf("logs %s: exit %d (%s); no ip=%s in:\n%s", name, code, stderr, staticIP, tail(logs, 3000))
	}

	out, stderr, code = execute(t, "list", "--state-dir", state, "-o", "json")
	if code != exitOK {
		t.Fatalf("list: exit %d: %s", code, stderr)
	}
	var pods []runtime.PodVM
	if err := json.Unmarshal([]byte(out), &pods); err != nil {
		t.Fatalf("list -o json: %v\n%s", err, out)
	}
	var ips []string
	for _, p := range pods {
		if p.Name == name {
			for _, a := range p.Addresses {
				ips = append(ips, a.IP)
			}
		}
	}
	if !has(ips, staticIP) {
		t.Errorf("list -o json shows %s at %v, want %s:\n%s", name, ips, staticIP, out)
	}
}

// TestMigrateSecureBootDiagnosed is issue 18's second "done when": the
// test guest described as an EFI VM with secure boot, planned with
// --secure-boot-firmware yes, runs under OVMF with secure boot and
// Microsoft's keys, which refuse its unsigned loader. migrate fails that VM
// with the boot diagnosis naming secure boot, and the report carries it;
// the readiness timeout is far longer than the diagnosis needs, so the
// error must be the diagnosis, not the timeout.
func TestMigrateSecureBootDiagnosed(t *testing.T) {
	if os.Getenv(slowTests) != "1" {
		t.Skipf("set %s=1: boots the test guest under OVMF with secure boot", slowTests)
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: libvirtd for qemu:///system")
	}
	if plan.HostSecureBootFirmware() == "" {
		t.Skip("this host has no OVMF secure-boot firmware to boot under (Debian: apt-get install ovmf)")
	}
	libvirtd.EnsureForTest(t, "")
	dir := testtool.LibvirtDir(t, "podvm-migrate-secboot-")
	name := fmt.Sprintf("secboot-%d", time.Now().UnixNano()%1e6)
	hw := testguest.DefaultHardware("efi")
	hw.SecureBoot = true
	hw.Name = name
	hw.MemoryMiB = 256
	g := testguest.BuildForTest(t, testguest.Options{OutDir: filepath.Join(dir, "guest"), Hardware: hw})
	state := filepath.Join(dir, "state")
	t.Cleanup(func() { execute(t, "rm", "--force", name, "--state-dir", state) })

	inv := filepath.Join(dir, "inventory.json")
	if _, stderr, code := execute(t, "discover", "--vmx", g.Path(testguest.VMX), "-o", "json", "--out", inv); code != exitOK {
		t.Fatalf("discover --vmx: exit %d: %s", code, stderr)
	}
	planFile := filepath.Join(dir, "plan.yaml")
	if _, stderr, code := execute(t, "plan", inv, "--secure-boot-firmware", "yes", "--out", planFile); code != exitOK {
		t.Fatalf("plan --secure-boot-firmware yes: exit %d: %s", code, stderr)
	}
	if b, _ := os.ReadFile(planFile); !strings.Contains(string(b), "secureBoot: true") {
		t.Fatalf("the plan does not give the VM secure boot:\n%s", b)
	}
	runDir := filepath.Join(dir, "run")
	start := time.Now()
	out, stderr, code := execute(t, "migrate", planFile, "--target", "runtime", "--ready-timeout", "5m",
		"--run-dir", runDir, "--state-dir", state, "-o", "json")
	t.Logf("migrate took %s: exit %d", time.Since(start).Round(time.Second), code)
	if code != exitError || !strings.Contains(stderr, "1 of 1 VMs failed: "+name) {
		t.Fatalf("migrate: exit %d, want %d with %s failed\nstderr: %s\nstdout: %s", code, exitError, name, stderr, out)
	}
	// migrate's events (-o json) carry the VM's error: the diagnosis.
	var vmErr string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var e runrecord.Event
		if json.Unmarshal([]byte(line), &e) == nil && e.VM == name && e.Result == runrecord.ResultFailed && e.Error != "" {
			vmErr = e.Error
		}
	}
	t.Logf("migrate's error for %s: %s", name, vmErr)
	if !strings.Contains(vmErr, runtime.ErrBootFailed.Error()+": "+runtime.CauseSecureBoot) {
		t.Errorf("migrate's error for %s is not the secure-boot diagnosis (%q): %q", name, runtime.CauseSecureBoot, vmErr)
	}

	js, stderr, code := execute(t, "report", runDir, "--format", "json", "--out", "-")
	if code != exitOK {
		t.Fatalf("report: exit %d: %s", code, stderr)
	}
	var rep reports.Report
	if err := json.Unmarshal([]byte(js), &rep); err != nil || len(rep.Performance.VMs) != 1 {
		t.Fatalf("report -o json: %v\n%s", err, js)
	}
	v := rep.Performance.VMs[0]
	t.Logf("report: %s %s: %s", v.Name, v.Status, v.Error)
	if v.Status != "failed" || !strings.Contains(v.Error, runtime.CauseSecureBoot) {
		t.Errorf("report: status %q, error %q; want failed naming %q", v.Status, v.Error, runtime.CauseSecureBoot)
	}
	// The cause is the diagnosis, not the readiness timeout running out.
	if !strings.Contains(v.Error, runtime.ErrBootFailed.Error()+": "+runtime.CauseSecureBoot) || strings.Contains(v.Error, "within 5m0s") || strings.Contains(v.Error, "deadline") {
		t.Errorf("report: the error is the readiness timeout, not the diagnosis: %s", v.Error)
	}
}

// copyVMX writes a copy of a VMX into dir under a new display name, with
// its disk linked beside it (discover opens only disks in the VM's own
// folder; a hard link, else a copy: nothing writes to it), and returns the
// copy's path.
func copyVMX(t *testing.T, src, dir, name, vmdk, vmdkName string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Link(vmdk, filepath.Join(dir, vmdkName)); err != nil {
		if out, err := exec.Command("cp", "--sparse=always", vmdk, filepath.Join(dir, vmdkName)).CombinedOutput(); err != nil {
			t.Fatalf("copy %s: %v: %s", vmdk, err, out)
		}
	}
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if key, _, _ := strings.Cut(l, "="); strings.TrimSpace(key) == "displayName" {
			l = fmt.Sprintf("displayName = %q", name)
		}
		lines = append(lines, l)
	}
	out := filepath.Join(dir, name+".vmx")
	if err := os.WriteFile(out, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}
