package migrate

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/podvm-migrate/podvm-migrate/disksource"
	"github.com/podvm-migrate/podvm-migrate/plan"
	"github.com/podvm-migrate/podvm-migrate/podvm"
	"github.com/podvm-migrate/podvm-migrate/runrecord"
)

// scriptedStages is a stand-in for the real stages, for what the real ones
// cannot produce on demand: overlapping transfers to count, and transient
// network faults. It says so in its name; the end-to-end tests use the
// real stages.
type scriptedStages struct {
	mu          sync.Mutex
	active      map[string]int // "host:X" / "ds:Y" -> transfers running now
	peak        map[string]int
	transient   map[string]int // VM -> transient faults still to raise
	attempts    atomic.Int64
	hold        time.Duration
	failPackage string
	sums        map[string]string // disk path -> checksum of what Transfer "wrote"
	images      map[string]string // ref -> digest
	running     map[string]bool
	boots       map[string]int
	failBoot    map[string]bool
	transfers   map[string]int
	// meet makes a transfer wait, before its hold, until each of its
	// hosts and datastores has had two transfers at once, or meetLimit
	// after the first wait: the runner's bounds allow that, so a second
	// transfer joins however slowly a loaded machine starts it (or syncs
	// the journal).
	meet   bool
	meetBy time.Time
}

func newScripted() *scriptedStages {
	return &scriptedStages{active: map[string]int{}, peak: map[string]int{}, transient: map[string]int{}, sums: map[string]string{},
		images: map[string]string{}, running: map[string]bool{}, boots: map[string]int{}, failBoot: map[string]bool{}, transfers: map[string]int{}}
}

func (s *scriptedStages) ImageRef(runDir, name string) string {
	return "oci:" + filepath.Join(runDir, name) + ":x"
}

func (s *scriptedStages) Transfer(ctx context.Context, vm *plan.PlannedVM, d podvm.Disk, dst string, _ func(int64, int64)) (*TransferResult, error) {
	s.attempts.Add(1)
	src, _ := disksource.Parse(d.Source)
	keys := []string{"host:" + vm.Spec.Source.Host, "ds:" + src.Datastore}
	s.mu.Lock()
	if s.transient[vm.Spec.Name] > 0 {
		s.transient[vm.Spec.Name]--
		s.mu.Unlock()
		return nil, fmt.Errorf("read %s: %w", d.Source, io.ErrUnexpectedEOF)
	}
	for _, k := range keys {
		s.active[k]++
		s.peak[k] = max(s.peak[k], s.active[k])
	}
	s.mu.Unlock()
	for end := s.meetDeadline(); s.meet && time.Now().Before(end) && !s.met(keys); {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(s.hold)
	s.mu.Lock()
	for _, k := range keys {
		s.active[k]--
	}
	s.sums[dst] = "sum-" + d.Source
	s.transfers[vm.Spec.Name]++
	s.mu.Unlock()
	return &TransferResult{ReadBytes: 1, VirtualBytes: 1, Checksum: "sum-" + d.Source}, nil
}

// meetLimit bounds the transfers' wait for one another: far beyond what a
// runner that allows two at once needs, it keeps one that never does from
// hanging the test.
const meetLimit = 10 * time.Second

// meetDeadline is when every transfer stops waiting for another.
func (s *scriptedStages) meetDeadline() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.meetBy.IsZero() {
		s.meetBy = time.Now().Add(meetLimit)
	}
	return s.meetBy
}

// met reports whether every one of keys has had two transfers at once.
func (s *scriptedStages) met(keys []string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		if s.peak[k] < 2 {
			return false
		}
	}
	return true
}

func (s *scriptedStages) Checksum(_ context.Context, path string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sum, ok := s.sums[path]; ok {
		return sum, nil
	}
	return "", fmt.Errorf("%s: no such file", path)
}

func (s *scriptedStages) Package(_ context.Context, vm *plan.PlannedVM, _ []string, ref string) (*PackageResult, error) {
	if vm.Spec.Name == s.failPackage {
		return nil, fmt.Errorf("image layer: no space left on device")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	digest := "sha256:" + specHash(&vm.Spec)
	s.images[ref] = digest
	return &PackageResult{Ref: ref, Digest: digest}, nil
}

func (s *scriptedStages) ImageOK(_ context.Context, ref, digest string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.images[ref] == digest
}

func (s *scriptedStages) Boot(_ context.Context, vm *plan.PlannedVM, _ string) (*BootResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.boots[vm.Spec.Name]++
	s.running[vm.Spec.Name] = true // a pod VM that is not ready keeps running, as the runtime's do
	if s.failBoot[vm.Spec.Name] {
		return nil, fmt.Errorf("pod VM %s: not ready within 2m0s", vm.Spec.Name)
	}
	return &BootResult{Accel: "tcg"}, nil
}

func (s *scriptedStages) Running(_ context.Context, vm *plan.PlannedVM) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.running[vm.Spec.Name]
}

func scriptedPlan(n int) *plan.Plan {
	p := &plan.Plan{}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("vm%02d", i)
		p.VMs = append(p.VMs, plan.PlannedVM{Name: name, Status: plan.StatusReady, Spec: podvm.Spec{Name: name,
			Source: podvm.SourceRef{Host: fmt.Sprintf("esx%d", i%2)},
			Disks:  []podvm.Disk{{Name: "disk0", Source: fmt.Sprintf("[ds%d] %s/%s.vmdk", i%3, name, name)}}}})
	}
	return p
}

func TestRunnerBoundsLoadPerHostAndDatastore(t *testing.T) {
	s := newScripted()
	s.hold, s.meet = 30*time.Millisecond, true
	r, err := NewRunner(scriptedPlan(24), s, s, Options{RunDir: t.TempDir(), Parallel: 12, PerHost: 3, PerDatastore: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	for k, n := range s.peak {
		limit := 2
		if strings.HasPrefix(k, "host:") {
			limit = 3
		}
		if n > limit {
			t.Errorf("%s had %d transfers at once, limit %d", k, n, limit)
		}
		if n < 2 {
			t.Errorf("%s never ran transfers in parallel (peak %d)", k, n)
		}
	}
}

func TestRunnerRetriesTransientFaultsAndIsolatesFailures(t *testing.T) {
	s := newScripted()
	s.transient["vm00"], s.transient["vm01"], s.failPackage = 2, 9, "vm02"
	dir := t.TempDir()
	r, err := NewRunner(scriptedPlan(4), s, s, Options{RunDir: dir, Retries: 3, Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	results, err := r.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "2 of 4 VMs failed: vm01, vm02") {
		t.Fatalf("error %v", err)
	}
	status := map[string]string{}
	for _, res := range results {
		status[res.VM] = res.Status + " " + res.Error
	}
	if !strings.HasPrefix(status["vm00"], "ready") || !strings.HasPrefix(status["vm03"], "ready") ||
		!strings.Contains(status["vm01"], "unexpected EOF") || !strings.Contains(status["vm02"], "no space left") {
		t.Errorf("results %v", status)
	}
	events, _ := runrecord.ReadJournal(dir)
	retries := map[string]int{}
	for _, e := range events {
		if e.Result == runrecord.ResultRetry {
			retries[e.VM]++
		}
	}
	if retries["vm00"] != 2 || retries["vm01"] != 3 || retries["vm02"] != 0 {
		t.Errorf("retries %v; want 2 for vm00 (then it worked), 3 for vm01 (gave up), none for a non-transient fault", retries)
	}
}

func TestRerunRedoesExactlyWhatChangedOrFailed(t *testing.T) {
	s := newScripted()
	dir := t.TempDir()
	pl := scriptedPlan(3)
	run := func() {
		t.Helper()
		r, err := NewRunner(pl, s, s, Options{RunDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if res, err := r.Run(context.Background()); err != nil {
			t.Logf("run: %v %+v", err, res)
		}
	}
	s.failBoot["vm01"] = true
	run()
	if s.boots["vm00"] != 1 || s.boots["vm01"] != 1 {
		t.Fatalf("first run boots %v", s.boots)
	}

	// vm00: its plan changes (more memory); vm01: its boot failed but its
	// pod VM still runs; vm02: nothing changed.
	pl.VMs[0].Spec.MemoryMiB = 4096
	s.failBoot["vm01"] = false
	run()
	want := map[string]int{"vm00": 2, "vm01": 2, "vm02": 1}
	for vm, n := range want {
		if s.boots[vm] != n {
			t.Errorf("%s booted %d times, want %d (boots %v)", vm, s.boots[vm], n, s.boots)
		}
		if s.transfers[vm] != 1 {
			t.Errorf("%s disk copied %d times; its source did not change", vm, s.transfers[vm])
		}
	}

	// A disk whose source changed is copied again.
	pl.VMs[2].Spec.Disks[0].Source = "[ds9] vm02/moved.vmdk"
	run()
	if s.transfers["vm02"] != 2 || s.boots["vm02"] != 2 {
		t.Errorf("moved disk: %d copies, %d boots; want 2 and 2", s.transfers["vm02"], s.boots["vm02"])
	}
	// Nothing changed: everything is skipped.
	before := s.boots["vm00"] + s.boots["vm01"] + s.boots["vm02"]
	run()
	if after := s.boots["vm00"] + s.boots["vm01"] + s.boots["vm02"]; after != before {
		t.Errorf("an unchanged rerun booted %d pod VMs", after-before)
	}
}

func TestRunDirectoryIsLockedAndCleaned(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "disks", "vm00"), 0o755)
	partial := filepath.Join(dir, "disks", "vm00", ".disk0.qcow2.partial-123")
	os.WriteFile(partial, []byte("half"), 0o644)
	r, err := NewRunner(scriptedPlan(1), newScripted(), newScripted(), Options{RunDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(partial); !os.IsNotExist(err) {
		t.Errorf("a half-written disk of an interrupted run is still there: %v", err)
	}
	if _, err := NewRunner(scriptedPlan(1), newScripted(), newScripted(), Options{RunDir: dir}); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("in use by pid %d", os.Getpid())) {
		t.Errorf("second runner on the same directory: %v", err)
	}
	r.Close()
	r2, err := NewRunner(scriptedPlan(1), newScripted(), newScripted(), Options{RunDir: dir})
	if err != nil {
		t.Fatalf("after Close: %v", err)
	}
	r2.Close()
	if _, err := NewRunner(scriptedPlan(1), newScripted(), newScripted(), Options{RunDir: dir, Retries: -1}); err == nil {
		t.Error("negative retries accepted")
	}
}

func TestSameVMNamedTwiceRunsOnce(t *testing.T) {
	s := newScripted()
	r, err := NewRunner(scriptedPlan(2), s, s, Options{RunDir: t.TempDir(), VMs: []string{"vm00", "vm00"}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	res, err := r.Run(context.Background())
	if err != nil || len(res) != 1 || s.transfers["vm00"] != 1 {
		t.Errorf("results %+v, %v, transfers %v", res, err, s.transfers)
	}
}

// overlapTarget holds the first boot until another VM's disk is copied,
// so a runner that keeps a VM's copy slot through its boot never gets
// there (the wait gives up after a while instead of hanging).
type overlapTarget struct {
	*scriptedStages
	copied chan string
	first  *atomic.Bool
}

func (o overlapTarget) Boot(ctx context.Context, vm *plan.PlannedVM, ref string) (*BootResult, error) {
	if o.first.CompareAndSwap(false, true) {
		timeout := time.After(10 * time.Second)
		for other := vm.Spec.Name; other == vm.Spec.Name; {
			select {
			case other = <-o.copied:
			case <-timeout:
				return nil, fmt.Errorf("no other VM's transfer ran while %s booted", vm.Spec.Name)
			}
		}
	}
	return o.scriptedStages.Boot(ctx, vm, ref)
}

// signallingDisks says whose disk it copied.
type signallingDisks struct {
	*scriptedStages
	copied chan string
}

func (d signallingDisks) Transfer(ctx context.Context, vm *plan.PlannedVM, disk podvm.Disk, dst string, p func(int64, int64)) (*TransferResult, error) {
	tr, err := d.scriptedStages.Transfer(ctx, vm, disk, dst, p)
	d.copied <- vm.Spec.Name
	return tr, err
}

// TestNextTransferOverlapsBoot: with one VM at a time, the next VM's copy
// runs while the previous VM boots.
func TestNextTransferOverlapsBoot(t *testing.T) {
	s := newScripted()
	copied := make(chan string, 4)
	r, err := NewRunner(scriptedPlan(2), signallingDisks{s, copied}, overlapTarget{s, copied, new(atomic.Bool)}, Options{RunDir: t.TempDir(), Parallel: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	results, err := r.Run(context.Background())
	if err != nil {
		t.Fatalf("%v: %+v", err, results)
	}
}

// TestNewFailsCleanly: a run that cannot be set up (its run directory
// cannot be made, another run holds it) is an error, not a crash in the
// clean-up of what New had made.
func TestNewFailsCleanly(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	pl := &plan.Plan{}
	run := Options{Parallel: 1, PerDatastore: 1, PerHost: 1}
	cfg := Config{Plan: pl, Run: run}
	cfg.Run.RunDir = filepath.Join(file, "run")
	if m, err := New(context.Background(), cfg); err == nil || m != nil {
		t.Errorf("a run directory under a file: %v, %v", m, err)
	}
}
