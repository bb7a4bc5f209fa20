package migrate

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/podvm-migrate/podvm-migrate/podvm"
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
}

func (s *scriptedStages) ImageRef(runDir, name string) string {
	return "oci:" + filepath.Join(runDir, name) + ":x"
}

func (s *scriptedStages) Transfer(ctx context.Context, vm *podvm.PlannedVM, d podvm.Disk, dst string, _ func(int64, int64)) (*TransferResult, error) {
	s.attempts.Add(1)
	keys := []string{"host:" + vm.Spec.Source.Host, "ds:" + datastoreOf(d.Source)}
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
	time.Sleep(s.hold)
	s.mu.Lock()
	for _, k := range keys {
		s.active[k]--
	}
	s.mu.Unlock()
	return &TransferResult{ReadBytes: 1, VirtualBytes: 1, SHA256: "sum-" + vm.Spec.Name}, nil
}

func (s *scriptedStages) Checksum(context.Context, string) (string, error) {
	return "", fmt.Errorf("none")
}
func (s *scriptedStages) Package(_ context.Context, vm *podvm.PlannedVM, _ []string, ref string) (*PackageResult, error) {
	if vm.Spec.Name == s.failPackage {
		return nil, fmt.Errorf("image layer: no space left on device")
	}
	return &PackageResult{Ref: ref, Digest: "sha256:x"}, nil
}
func (s *scriptedStages) ImageOK(context.Context, string, string) bool { return false }
func (s *scriptedStages) Boot(context.Context, *podvm.PlannedVM, string) (*BootResult, error) {
	return &BootResult{Accel: "tcg"}, nil
}
func (s *scriptedStages) Running(context.Context, *podvm.PlannedVM) bool { return false }

func scriptedPlan(n int) *podvm.Plan {
	p := &podvm.Plan{}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("vm%02d", i)
		p.VMs = append(p.VMs, podvm.PlannedVM{Name: name, Status: podvm.StatusReady, Spec: podvm.Spec{Name: name,
			Source: podvm.SourceRef{Host: fmt.Sprintf("esx%d", i%2)},
			Disks:  []podvm.Disk{{Name: "disk0", Source: fmt.Sprintf("[ds%d] %s/%s.vmdk", i%3, name, name)}}}})
	}
	return p
}

func TestRunnerBoundsLoadPerHostAndDatastore(t *testing.T) {
	s := &scriptedStages{active: map[string]int{}, peak: map[string]int{}, transient: map[string]int{}, hold: 30 * time.Millisecond}
	r, err := NewRunner(scriptedPlan(24), s, Options{RunDir: t.TempDir(), Parallel: 12, PerHost: 3, PerDatastore: 2})
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
	s := &scriptedStages{active: map[string]int{}, peak: map[string]int{}, transient: map[string]int{"vm00": 2, "vm01": 9}, failPackage: "vm02"}
	dir := t.TempDir()
	r, err := NewRunner(scriptedPlan(4), s, Options{RunDir: dir, Retries: 3, Backoff: time.Millisecond})
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
	events, _ := ReadJournal(dir)
	retries := map[string]int{}
	for _, e := range events {
		if e.Result == ResultRetry {
			retries[e.VM]++
		}
	}
	if retries["vm00"] != 2 || retries["vm01"] != 3 || retries["vm02"] != 0 {
		t.Errorf("retries %v; want 2 for vm00 (then it worked), 3 for vm01 (gave up), none for a non-transient fault", retries)
	}
}
