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
	Cached     bool      `json:"-"`
}

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

// Verdict returns the verdict cached in c.File when this host and kernel
// made it. Otherwise an unusable /dev/kvm means TCG; else probe smoke-boots
// a guest under KVM and says what it found and whether that may be cached.
// The new verdict is stamped with the host, its kernel and the time, and
// written to c.File.
func (c VerdictCache) Verdict(ctx context.Context, probe func(context.Context) (v Verdict, keep bool, err error)) (*Verdict, error) {
	file := c.File
	kvm := c.KVM
	if kvm == nil {
		kvm = KVMOpenable
	}
	hostname, _ := os.Hostname()
	kernel := KernelRelease()
	if b, err := os.ReadFile(file); err == nil {
		var v Verdict
		if json.Unmarshal(b, &v) == nil && v.Host == hostname && v.HostKernel == kernel && v.Accel != "" {
			v.Cached = true
			return &v, nil
		}
	}
	var v Verdict
	if err := kvm(); err != nil {
		v = Verdict{Accel: AccelTCG, Reason: fmt.Sprintf("/dev/kvm unusable: %v", err)}
	} else {
		var keep bool
		if v, keep, err = probe(ctx); err != nil {
			return nil, err
		}
		if !keep {
			return &v, nil
		}
	}
	v.Host, v.HostKernel, v.ProbedAt = hostname, kernel, time.Now().UTC()
	if b, err := json.MarshalIndent(v, "", "  "); err == nil {
		_ = os.MkdirAll(filepath.Dir(file), 0o755)
		_ = atomicfile.WriteFile(file, b, 0o644) // without a cache the next run probes again
	}
	return &v, nil
}
