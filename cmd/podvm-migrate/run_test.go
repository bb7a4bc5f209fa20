package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/podvm-migrate/podvm-migrate/internal/testtool"
	"github.com/podvm-migrate/podvm-migrate/runtime"
	"github.com/podvm-migrate/podvm-migrate/testenv/libvirtd"
	"github.com/podvm-migrate/podvm-migrate/testenv/testguest"
)

// TestRunWaitReady runs the test guest with run --wait-ready through the
// command: stderr says what it waits for while the guest boots, the result
// shows the pod VM up (uptime, not "-"), and a second run under the same
// name is refused with a hint that works on a running pod VM (rm -f, with
// the state folder that is not the default).
func TestRunWaitReady(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("running a pod VM starts libvirtd for qemu:///system and needs root")
	}
	ctx := context.Background()
	if _, err := libvirtd.Ensure(ctx, ""); err != nil {
		t.Fatal(err)
	}
	dir := testtool.LibvirtDir(t, "podvm-cli-run-")
	guest := filepath.Join(dir, "guest")
	if _, err := testguest.Build(ctx, testguest.Options{OutDir: guest}); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	name := "cli-run-" + time.Now().Format("150405")
	t.Cleanup(func() {
		if rt, err := runtime.New(context.Background(), runtime.WithStateDir(state)); err == nil {
			_ = rt.Remove(context.Background(), name, true)
			rt.Close()
		}
	})
	disk := filepath.Join(guest, testguest.Raw)
	out, errs, code := execute(t, "run", disk, "--name", name, "--wait-ready", "--accel", "tcg", "--state-dir", state, "-o", "json")
	if code != exitOK {
		t.Fatalf("run: exit %d: %s", code, errs)
	}
	if !strings.Contains(errs, "pod VM "+name+" started (tcg); waiting up to 2m0s for \""+runtime.DefaultReadyLine+"\"") {
		t.Errorf("run --wait-ready did not say what it waits for; stderr %q", errs)
	}
	var p runtime.PodVM
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("run -o json: %v: %s", err, out)
	}
	if p.State != runtime.StateRunning || p.Uptime <= 0 || p.Uptime < p.ReadyAfter {
		t.Errorf("run result: state %s, uptime %s, ready after %s", p.State, time.Duration(p.Uptime), time.Duration(p.ReadyAfter))
	}

	_, errs, code = execute(t, "run", disk, "--name", name, "--accel", "tcg", "--state-dir", state)
	if want := "'podvm-migrate rm -f " + name + " --state-dir " + state + "'"; code != exitError || !strings.Contains(errs, want) {
		t.Errorf("second run under the name: exit %d, %q; want a hint %s", code, errs, want)
	}
}
