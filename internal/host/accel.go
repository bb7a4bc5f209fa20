package host

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/podvm-migrate/podvm-migrate/internal/atomicfile"
)

// Accelerators.
const (
	AccelKVM = "kvm"
	AccelTCG = "tcg"
)

// Verdict is which accelerator guests get on this host, and why.
type Verdict struct {
	Accel      string    `json:"accel"` // kvm | tcg
	Reason     string    `json:"reason"`
	Host       string    `json:"host,omitempty"`
	HostKernel string    `json:"hostKernel,omitempty"`
	ProbedAt   time.Time `json:"probedAt,omitempty"`
	// Format is verdictFormat in a cache file this version wrote; older
	// files may hold a verdict from a probe that never booted.
	Format int  `json:"format,omitempty"`
	Cached bool `json:"-"`
}

// verdictFormat marks cache files that hold only the outcomes of smoke
// boots that ran.
const verdictFormat = 2

// KVMOpenable returns why /dev/kvm cannot be opened for reading and
// writing, or nil. An openable /dev/kvm proves nothing more: on a nested
// host guests may still hang, which only a smoke boot shows.
func KVMOpenable() error {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return err
	}
	return f.Close()
}

// VerdictCache decides between KVM and TCG once per host and host kernel,
// and keeps the verdict in File.
type VerdictCache struct {
	File string
	// KVM returns why /dev/kvm cannot be used, or nil; nil means
	// KVMOpenable. Tests inject it to act out hosts with and without KVM.
	KVM func() error
}

// CachedVerdict is VerdictCache{File: file}.Verdict(ctx, probe).
func CachedVerdict(ctx context.Context, file string, probe func(context.Context) (v Verdict, keep bool, err error)) (*Verdict, error) {
	return VerdictCache{File: file}.Verdict(ctx, probe)
}

// Verdict decides between KVM and TCG. A /dev/kvm that cannot be used
// means TCG, every time (that is not cached: it may be fixed). Otherwise
// the verdict cached in c.File counts when this host and kernel made it.
// Else probe smoke-boots a guest under KVM and says what it found and
// whether to keep it: only the outcome of a boot that ran is worth
// keeping, never a probe that could not start. A kept verdict is stamped
// with the host, its kernel and the time, and written to c.File.
func (c VerdictCache) Verdict(ctx context.Context, probe func(context.Context) (v Verdict, keep bool, err error)) (*Verdict, error) {
	kvm := c.KVM
	if kvm == nil {
		kvm = KVMOpenable
	}
	if err := kvm(); err != nil {
		return &Verdict{Accel: AccelTCG, Reason: fmt.Sprintf("/dev/kvm unusable: %v", err)}, nil
	}
	hostname, _ := os.Hostname()
	kernel := KernelRelease()
	if b, err := os.ReadFile(c.File); err == nil {
		var v Verdict
		if json.Unmarshal(b, &v) == nil && v.Format == verdictFormat && v.Host == hostname && v.HostKernel == kernel && v.Accel != "" {
			v.Cached = true
			return &v, nil
		}
	}
	v, keep, err := probe(ctx)
	if err != nil {
		return nil, err
	}
	if !keep {
		return &v, nil
	}
	v.Host, v.HostKernel, v.ProbedAt, v.Format = hostname, kernel, time.Now().UTC(), verdictFormat
	if b, err := json.MarshalIndent(v, "", "  "); err == nil {
		_ = os.MkdirAll(filepath.Dir(c.File), 0o755)
		_ = atomicfile.WriteFile(c.File, b, 0o644) // without a cache the next run probes again
	}
	return &v, nil
}
