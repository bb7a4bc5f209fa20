package main

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/podvm-migrate/podvm-migrate/convert"
	"github.com/podvm-migrate/podvm-migrate/discover"
	"github.com/podvm-migrate/podvm-migrate/internal/testtool"
	"github.com/podvm-migrate/podvm-migrate/internal/testtool/imagetest"
	"github.com/podvm-migrate/podvm-migrate/runtime"
	"github.com/podvm-migrate/podvm-migrate/testenv/libvirtd"
	"github.com/podvm-migrate/podvm-migrate/testenv/testguest"
)

// The test binary doubles as the podvm-migrate command when this variable
// is set, so a test can run it as a process and kill it.
const asCommand = "PODVM_MIGRATE_AS_COMMAND"

func TestMain(m *testing.M) {
	if os.Getenv(asCommand) == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// command runs podvm-migrate as a child process.
func command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), asCommand+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

func TestMigrateSurvivesKill(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("migrating to the runtime starts libvirtd for qemu:///system and needs root")
	}
	ctx := context.Background()
	if _, err := libvirtd.Ensure(ctx, ""); err != nil {
		t.Fatal(err)
	}
	dir := testtool.LibvirtDir(t, "podvm-migrate-kill-")
	guest := filepath.Join(dir, "guest")
	if _, err := testguest.Build(ctx, testguest.Options{OutDir: guest}); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	rt, err := runtime.New(ctx, runtime.WithStateDir(state))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		pods, _ := rt.List(context.Background())
		for _, p := range pods {
			if strings.HasPrefix(p.Name, "kill-") {
				rt.Remove(context.Background(), p.Name, true)
			}
		}
		rt.Close()
	}()

	var vms []discover.VM
	for i, disk := range []string{testguest.VMDK, testguest.Stream, testguest.Raw} {
		vm := planVM("kill-"+strings.Split(disk, ".")[0], "00:50:56:00:02:0"+string(rune('1'+i)))
		vm.Hardware.MemoryMiB = 256
		vm.Hardware.Disks[0].File = filepath.Join(guest, disk)
		vms = append(vms, vm)
	}
	inv := writeInventory(t, vms...)
	planFile := filepath.Join(dir, "plan.yaml")
	if _, stderr, code := execute(t, "plan", inv, "--out", planFile); code != exitOK {
		t.Fatalf("plan: %d %s", code, stderr)
	}
	runDir := filepath.Join(dir, "run")
	args := []string{"migrate", planFile, "--run-dir", runDir, "--state-dir", state, "-o", "json", "--parallel", "2"}

	// Kill -9 the migration at a random moment while it works.
	delay := time.Duration(500+rand.IntN(6000)) * time.Millisecond
	cmd := command(ctx, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		t.Logf("the first run finished before the kill at %s: %v", delay, err)
	case <-time.After(delay):
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		t.Logf("killed the first run after %s", delay)
	}

	out, err := command(ctx, args...).Output()
	if err != nil {
		t.Fatalf("rerun after the kill: %v\n%s", err, out)
	}
	want, _ := convert.Checksum(ctx, filepath.Join(guest, testguest.Raw), convert.FormatRaw, "", 0)
	for _, vm := range vms {
		name := vm.Name
		got, err := imagetest.MigratedDiskSum(ctx, runDir, name)
		if err != nil || got != want {
			t.Errorf("%s: disk checksum %s, %v; want %s", name, got, err, want)
		}
		pod, err := rt.Get(ctx, name)
		if err != nil || pod.State != runtime.StateRunning || !strings.HasPrefix(pod.ReadyLine, "PODVM-READY") {
			t.Errorf("%s is not running and ready: %+v %v", name, pod, err)
		}
	}
	// The rerun's JSON events end with the run done.
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var last struct{ Phase, Result string }
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil || last.Phase != "run" || last.Result != "done" {
		t.Errorf("last event %q", lines[len(lines)-1])
	}
	// Nothing half-written under a final name, and no temporary left.
	if tmp, _ := filepath.Glob(filepath.Join(runDir, "disks", "*", ".*")); len(tmp) != 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
}

// TestMigrateCtrlCDuringBoot: Ctrl-C while a pod VM boots ends migrate with
// exit 130 and says the VM was interrupted and left running, not failed
// with "context canceled".
func TestMigrateCtrlCDuringBoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("migrating to the runtime starts libvirtd for qemu:///system and needs root")
	}
	ctx := context.Background()
	if _, err := libvirtd.Ensure(ctx, ""); err != nil {
		t.Fatal(err)
	}
	dir := testtool.LibvirtDir(t, "podvm-migrate-int-")
	guest := filepath.Join(dir, "guest")
	if _, err := testguest.Build(ctx, testguest.Options{OutDir: guest}); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	rt, err := runtime.New(ctx, runtime.WithStateDir(state))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		rt.Remove(context.Background(), "int-vm", true)
		rt.Close()
	}()
	vm := planVM("int-vm", "00:50:56:00:03:01")
	vm.Hardware.MemoryMiB = 256
	vm.Hardware.Disks[0].File = filepath.Join(guest, testguest.VMDK)
	planFile := filepath.Join(dir, "plan.yaml")
	if _, stderr, code := execute(t, "plan", writeInventory(t, vm), "--out", planFile); code != exitOK {
		t.Fatalf("plan: %d %s", code, stderr)
	}
	cmd := command(ctx, "migrate", planFile, "--run-dir", filepath.Join(dir, "run"), "--state-dir", state, "-o", "json")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var events []string
	dec := json.NewDecoder(stdout)
	for {
		var e struct{ VM, Phase, Result string }
		if err := dec.Decode(&e); err != nil {
			break
		}
		events = append(events, e.VM+" "+e.Phase+" "+e.Result)
		if e.Phase == "boot" && e.Result == "started" {
			// The domain is being made: Ctrl-C once it runs.
			for i := 0; i < 200; i++ {
				if p, err := rt.Get(ctx, "int-vm"); err == nil && p.State == runtime.StateRunning {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			cmd.Process.Signal(os.Interrupt)
		}
	}
	err = cmd.Wait()
	code := cmd.ProcessState.ExitCode()
	if code != 130 {
		t.Fatalf("exit %d (%v), want 130; stderr %q; events %v", code, err, stderr.String(), events)
	}
	msg := stderr.String()
	t.Logf("stderr:\n%s", msg)
	for _, want := range []string{"interrupted", "rerun the same command"} {
		if !strings.Contains(msg, want) {
			t.Errorf("stderr %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "context canceled") {
		t.Errorf("stderr %q says context canceled", msg)
	}
	if last := events[len(events)-1]; last != " run interrupted" {
		t.Errorf("last event %q; events %v", last, events)
	}
	if !slices.Contains(events, "int-vm boot interrupted") && !slices.Contains(events, "int-vm ready interrupted") {
		t.Errorf("no interrupted event for int-vm: %v", events)
	}
}
