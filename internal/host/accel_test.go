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
// back; a probe that could not boot declines caching and the next call
// probes again; a verdict from another kernel, or from a cache file an
// older version wrote (which may hold a probe that never started), is not
// trusted.
func TestVerdictCache(t *testing.T) {
	ctx := context.Background()
	c := VerdictCache{File: filepath.Join(t.TempDir(), "state", "accel-probe.json"), KVM: func() error { return nil }}
	probes := 0
	probe := func(accel string, keep bool) func(context.Context) (Verdict, bool, error) {
		return func(context.Context) (Verdict, bool, error) {
			probes++
			return Verdict{Accel: accel, Reason: "smoke boot"}, keep, nil
		}
	}

	for i := 1; i <= 2; i++ {
		v, err := c.Verdict(ctx, probe(AccelTCG, false))
		if err != nil || v.Cached || v.Accel != AccelTCG || probes != i {
			t.Fatalf("call %d: verdict %+v, %v after %d probes; want a fresh probe each time", i, v, err, probes)
		}
		if _, err := os.Stat(c.File); err == nil {
			t.Fatal("a verdict the probe did not want kept was cached")
		}
	}

	v, err := c.Verdict(ctx, probe(AccelKVM, true))
	if err != nil || v.Cached || v.Accel != AccelKVM || v.HostKernel != KernelRelease() || v.ProbedAt.IsZero() || probes != 3 {
		t.Fatalf("probed verdict %+v, %v after %d probes", v, err, probes)
	}
	again, err := c.Verdict(ctx, func(context.Context) (Verdict, bool, error) {
		return Verdict{}, false, errors.New("probed again")
	})
	if err != nil || !again.Cached || again.Accel != AccelKVM {
		t.Errorf("second verdict %+v, %v: want the cached one", again, err)
	}

	for name, edit := range map[string]func(*Verdict){
		"another kernel": func(v *Verdict) { v.HostKernel = "0.0.0-other" },
		"an old version's": func(v *Verdict) {
			v.Format = 0
			v.Accel, v.Reason = AccelTCG, "KVM smoke boot could not start: unable to stat: guest/vmlinuz"
		},
	} {
		stale := *v
		edit(&stale)
		b, _ := json.Marshal(stale)
		if err := os.WriteFile(c.File, b, 0o644); err != nil {
			t.Fatal(err)
		}
		before := probes
		got, err := c.Verdict(ctx, probe(AccelKVM, true))
		if err != nil || got.Cached || got.Accel != AccelKVM || probes != before+1 {
			t.Errorf("verdict over %s cache: %+v, %v; want a new probe", name, got, err)
		}
	}
}

// TestVerdictWithoutKVM: an unusable /dev/kvm means TCG without a probe,
// over any cached verdict, and is not cached (it may be fixed).
func TestVerdictWithoutKVM(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "accel-probe.json")
	withKVM := VerdictCache{File: file, KVM: func() error { return nil }}
	if _, err := withKVM.Verdict(ctx, func(context.Context) (Verdict, bool, error) {
		return Verdict{Accel: AccelKVM, Reason: "smoke boot ready"}, true, nil
	}); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(file)
	without := VerdictCache{File: file, KVM: func() error { return os.ErrPermission }}
	v, err := without.Verdict(ctx, func(context.Context) (Verdict, bool, error) {
		t.Error("probed without /dev/kvm")
		return Verdict{}, false, nil
	})
	if err != nil || v.Accel != AccelTCG || v.Cached {
		t.Errorf("verdict %+v, %v; want TCG, not from the cache", v, err)
	}
	if after, _ := os.ReadFile(file); string(after) != string(before) {
		t.Errorf("cache changed to %s", after)
	}
}
