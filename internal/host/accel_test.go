package host

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestCachedVerdict: a verdict is made once per host kernel and then read
// back; a probe may decline caching; a verdict from another kernel is not
// trusted. The probe only runs where /dev/kvm opens.
func TestCachedVerdict(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "state", "accel-probe.json")
	probes := 0
	probe := func(keep bool) func(context.Context) (Verdict, bool, error) {
		return func(context.Context) (Verdict, bool, error) {
			probes++
			return Verdict{Accel: AccelKVM, Reason: "smoke boot ready"}, keep, nil
		}
	}
	kvmErr := KVMOpenable()

	v, err := CachedVerdict(ctx, file, probe(false))
	if err != nil || v.Cached {
		t.Fatalf("first verdict %+v, %v", v, err)
	}
	if _, err := os.Stat(file); kvmErr == nil && err == nil {
		t.Error("a verdict the probe did not want kept was cached")
	}

	v, err = CachedVerdict(ctx, file, probe(true))
	if err != nil || v.Cached || v.HostKernel != KernelRelease() || v.ProbedAt.IsZero() {
		t.Fatalf("probed verdict %+v, %v", v, err)
	}
	if kvmErr != nil && (v.Accel != AccelTCG || probes != 0) {
		t.Errorf("/dev/kvm unusable (%v): verdict %+v after %d probes, want TCG without probing", kvmErr, v, probes)
	}
	if kvmErr == nil && (v.Accel != AccelKVM || probes != 2) {
		t.Errorf("verdict %+v after %d probes, want the probe's KVM", v, probes)
	}

	before := probes
	again, err := CachedVerdict(ctx, file, func(context.Context) (Verdict, bool, error) {
		return Verdict{}, false, errors.New("probed again")
	})
	if err != nil || !again.Cached || again.Accel != v.Accel || probes != before {
		t.Errorf("second verdict %+v, %v: want the cached one", again, err)
	}

	stale := *v
	stale.HostKernel = "0.0.0-other"
	b, _ := json.Marshal(stale)
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if v, err := CachedVerdict(ctx, file, probe(true)); err != nil || v.Cached || v.HostKernel != KernelRelease() {
		t.Errorf("verdict over another kernel's cache: %+v, %v; want a new one", v, err)
	}
}
