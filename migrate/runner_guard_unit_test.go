package migrate

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/podvm-migrate/podvm-migrate/checks/probe"
	"github.com/podvm-migrate/podvm-migrate/plan"
	"github.com/podvm-migrate/podvm-migrate/podvm"
	"github.com/podvm-migrate/podvm-migrate/runrecord"
)

// recorder is a Progress that keeps every event it is shown.
type recorder struct {
	mu     sync.Mutex
	events []runrecord.Event
}

func (p *recorder) Event(e runrecord.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.events = append(p.events, e)
}
func (p *recorder) Bytes(string, string, int64, int64) {}

// fillingDisks is the scripted stages whose first transfer fills the file
// system of the run directory, as a big disk would.
type fillingDisks struct {
	*scriptedStages
	dir string
}

func (f fillingDisks) Transfer(ctx context.Context, vm *plan.PlannedVM, d podvm.Disk, dst string, p func(int64, int64)) (*TransferResult, error) {
	fill, err := os.OpenFile(filepath.Join(f.dir, "filler"), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if errors.Is(err, os.ErrExist) {
		return f.scriptedStages.Transfer(ctx, vm, d, dst, p) // filled already
	}
	if err != nil {
		return nil, err
	}
	defer fill.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := fill.Write(buf); err != nil {
			break
		}
	}
	return f.scriptedStages.Transfer(ctx, vm, d, dst, p)
}

// TestJournalFailureStopsTheRun: when the run record cannot be written
// (the file system is full), the run stops: no transfer starts after the
// first failed write, which is reported once, after the run's start. A
// full run directory is refused before any transfer.
func TestJournalFailureStopsTheRun(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounts a small tmpfs to fill: needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("no tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", dir).Run() })
	s := newScripted()
	rec := &recorder{}
	runDir := filepath.Join(dir, "run")
	const vms = 12 // their events overflow what the journal's last page still holds
	r, err := NewRunner(scriptedPlan(vms), fillingDisks{s, dir}, s, Options{RunDir: runDir, Parallel: 1, Progress: rec})
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Run(context.Background())
	r.Close()
	if err == nil || !strings.Contains(err.Error(), "run record") || !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("run error %v; want the run record's ENOSPC", err)
	}
	attempts := s.attempts.Load()
	if attempts == vms {
		t.Errorf("every VM's transfer was attempted")
	}
	ready := 0
	for _, x := range res {
		if x.Status == StatusReady {
			ready++
		}
	}
	if ready == vms {
		t.Errorf("every VM ready")
	}
	var reported int
	for _, e := range rec.events {
		if reported > 0 && e.Phase == runrecord.PhaseTransfer && e.Result == runrecord.ResultStarted {
			t.Errorf("a transfer started after the journal failed: %+v", e)
		}
		if e.Phase == runrecord.PhaseRun && e.Result == runrecord.ResultFailed && strings.Contains(e.Error, "no space left") {
			reported++
			if !strings.Contains(e.Error, "free space in "+runDir) {
				t.Errorf("journal failure without advice: %q", e.Error)
			}
		}
	}
	if reported != 1 {
		t.Errorf("the journal failure was reported %d times, want once", reported)
	}
	if e := rec.events[0]; e.Phase != runrecord.PhaseRun || e.Result != runrecord.ResultStarted {
		t.Errorf("first event %+v; want the run's start", e)
	}

	// Rerun with the file system still full: refused before any transfer.
	rec.events = nil
	r, err = NewRunner(scriptedPlan(vms), s, s, Options{RunDir: runDir, Parallel: 1, Progress: rec})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "MiB free") {
		t.Errorf("run in a full run directory: %v", err)
	}
	if n := s.attempts.Load(); n != attempts {
		t.Errorf("%d transfers attempted in all; want still %d", n, attempts)
	}
}

// TestPoweredOnSourceCopiedColdIsWarned: a source VM that runs while its
// disks are copied cold gets a warning event; not when it is off, or when
// the run powers sources off first.
func TestPoweredOnSourceCopiedColdIsWarned(t *testing.T) {
	power := func(_ context.Context, vm *plan.PlannedVM) (string, error) {
		if vm.Spec.Name == "vm00" {
			return "poweredOn", nil
		}
		return "poweredOff", nil
	}
	cases := []struct {
		name    string
		quiesce bool
		want    []string // VMs warned about
	}{
		{"cold copy", false, []string{"vm00"}},
		{"--source-power-off", true, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newScripted()
			o := Options{RunDir: t.TempDir(), Parallel: 2, PowerState: power}
			if c.quiesce {
				o.Quiesce = func(context.Context, *plan.PlannedVM) (string, error) { return "powered off", nil }
			}
			r, err := NewRunner(scriptedPlan(2), s, s, o)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			r.Close()
			events, _ := runrecord.ReadJournal(o.RunDir)
			var got []string
			for _, e := range events {
				if e.Result == runrecord.ResultWarning {
					got = append(got, e.VM)
					if !strings.Contains(e.Attrs["note"], "--source-power-off or --warm") {
						t.Errorf("warning %q", e.Attrs["note"])
					}
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("warned about %v; want %v", got, c.want)
			}
			// A rerun that copies nothing again warns about nothing.
			r, err = NewRunner(scriptedPlan(2), s, s, o)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if _, err := r.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			again, _ := runrecord.ReadJournal(o.RunDir)
			for _, e := range again[len(events):] {
				if e.Result == runrecord.ResultWarning {
					t.Errorf("the rerun warned: %+v", e)
				}
			}
		})
	}
}

// failingDisks is the scripted stages whose transfers fail with err.
type failingDisks struct {
	*scriptedStages
	err func(vm *plan.PlannedVM, d podvm.Disk) error
}

func (f failingDisks) Transfer(_ context.Context, vm *plan.PlannedVM, d podvm.Disk, _ string, _ func(int64, int64)) (*TransferResult, error) {
	return nil, f.err(vm, d)
}

// TestTransferFailureNamesTheDiskOnce: a failed transfer's message names
// the disk once, whether or not the stage's error already does.
func TestTransferFailureNamesTheDiskOnce(t *testing.T) {
	cases := []struct {
		name string
		err  func(vm *plan.PlannedVM, d podvm.Disk) error
		want string
	}{
		{"stage names the disk", func(vm *plan.PlannedVM, d podvm.Disk) error {
			return fmt.Errorf("disk %s of %s: offset 0: bad grain", d.Name, vm.Name)
		}, "transfer: disk disk0 of vm00: offset 0: bad grain"},
		{"stage does not", func(*plan.PlannedVM, podvm.Disk) error {
			return fmt.Errorf("offset 0: bad grain")
		}, "transfer: disk0: offset 0: bad grain"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newScripted()
			r, err := NewRunner(scriptedPlan(1), failingDisks{s, c.err}, s, Options{RunDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			res, _ := r.Run(context.Background())
			if len(res) != 1 || res[0].Error != c.want {
				t.Errorf("%+v; want error %q", res, c.want)
			}
		})
	}
}

// TestCtrlCDuringChecksIsInterrupted: Ctrl-C while a ready pod VM's check
// is still being retried (a closed port) ends the VM interrupted, not
// failed by the check.
func TestCtrlCDuringChecksIsInterrupted(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := addressedStages{newScripted(), probe.Forwarded{Ports: map[int]int{23: closed}}}
	p := scriptedPlan(1)
	p.VMs[0].Checks = []string{"tcp:23"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rec := &cancelOn{phase: runrecord.PhaseReady, cancel: cancel}
	r, err := NewRunner(p, s, s, Options{RunDir: t.TempDir(), Progress: rec, Checks: probe.Options{Timeout: time.Minute, Interval: 20 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	res, err := r.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Errorf("run error %v", err)
	}
	if len(res) != 1 || res[0].Status != StatusInterrupted || !strings.Contains(res[0].Error, "left running") {
		t.Errorf("%+v; want vm00 interrupted during its checks", res)
	}
}

// cancelOn is a Progress that cancels the run once a phase is done.
type cancelOn struct {
	phase  string
	cancel func()
}

func (c *cancelOn) Event(e runrecord.Event) {
	if e.Phase == c.phase && e.Result == runrecord.ResultDone {
		go func() { time.Sleep(100 * time.Millisecond); c.cancel() }()
	}
}
func (c *cancelOn) Bytes(string, string, int64, int64) {}

// TestRunWarnsWhenDisksMayNotFit: disks whose capacity exceeds the run
// directory's free space get a warning at the start; small ones do not.
func TestRunWarnsWhenDisksMayNotFit(t *testing.T) {
	for _, c := range []struct {
		capacity int64
		warn     bool
	}{{1 << 50, true}, {1 << 20, false}} {
		s := newScripted()
		p := scriptedPlan(2)
		for i := range p.VMs {
			p.VMs[i].Spec.Disks[0].CapacityBytes = c.capacity
		}
		rec := &recorder{}
		r, err := NewRunner(p, s, s, Options{RunDir: t.TempDir(), Progress: rec})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		r.Close()
		warned := false
		for _, e := range rec.events {
			if e.Phase == runrecord.PhaseRun && e.Result == runrecord.ResultWarning {
				warned = true
				if !strings.Contains(e.Attrs["note"], "2097152.0 GiB of capacity") {
					t.Errorf("warning %q does not say the capacity of both disks", e.Attrs["note"])
				}
			}
		}
		if warned != c.warn {
			t.Errorf("capacity %d: warned %v, want %v: %+v", c.capacity, warned, c.warn, rec.events)
		}
	}
}
