package host

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestVerdictCache: a verdict is made once per host kernel and then read
// back; a probe may decline caching; a verdict from another kernel is not
// trusted; without a usable /dev/kvm the verdict is TCG without a probe.
// Both kinds of host are acted out whatever this machine has.
func TestVerdictCache(t *testing.T) {
	for _, tc := range []struct {
		name string
		kvm  error // what the KVM check says
	}{
		{"kvm openable", nil},
		{"no /dev/kvm", os.ErrNotExist},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			c := VerdictCache{File: filepath.Join(t.TempDir(), "state", "accel-probe.json"), KVM: func() error { return tc.kvm }}
			probes := 0
			probe := func(keep bool) func(context.Context) (Verdict, bool, error) {
				return func(context.Context) (Verdict, bool, error) {
					probes++
					return Verdict{Accel: AccelKVM, Reason: "smoke boot ready"}, keep, nil
				}
			}

			if tc.kvm == nil {
				v, err := c.Verdict(ctx, probe(false))
				if err != nil || v.Cached || v.Accel != AccelKVM {
					t.Fatalf("uncached verdict %+v, %v", v, err)
				}
				if _, err := os.Stat(c.File); err == nil {
					t.Error("a verdict the probe did not want kept was cached")
				}
			}

			v, err := c.Verdict(ctx, probe(true))
			if err != nil || v.Cached || v.HostKernel != KernelRelease() || v.ProbedAt.IsZero() {
				t.Fatalf("probed verdict %+v, %v", v, err)
			}
			if tc.kvm != nil && (v.Accel != AccelTCG || probes != 0) {
				t.Errorf("verdict %+v after %d probes, want TCG without probing", v, probes)
			}
			if tc.kvm == nil && (v.Accel != AccelKVM || probes != 2) {
				t.Errorf("verdict %+v after %d probes, want the probe's KVM", v, probes)
			}

			before := probes
			again, err := c.Verdict(ctx, func(context.Context) (Verdict, bool, error) {
				return Verdict{}, false, errors.New("probed again")
			})
			if err != nil || !again.Cached || again.Accel != v.Accel || probes != before {
				t.Errorf("second verdict %+v, %v: want the cached one", again, err)
			}

			stale := *v
			stale.HostKernel = "0.0.0-other"
			b, _ := json.Marshal(stale)
			if err := os.WriteFile(c.File, b, 0o644); err != nil {
				t.Fatal(err)
			}
			if v, err := c.Verdict(ctx, probe(true)); err != nil || v.Cached || v.HostKernel != KernelRelease() {
				t.Errorf("verdict over another kernel's cache: %+v, %v; want a new one", v, err)
			}
		})
	}
}
