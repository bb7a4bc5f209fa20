package testenv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/podvm-migrate/podvm-migrate/internal/atomicfile"
	"github.com/podvm-migrate/podvm-migrate/internal/host"
)

// AccelProbe is the outcome of a smoke boot that decides between KVM and TCG.
type AccelProbe struct {
	Accel      string    `json:"accel"`
	Reason     string    `json:"reason"`
	Host       string    `json:"host"`
	HostKernel string    `json:"hostKernel"`
	ProbedAt   time.Time `json:"probedAt"`
	Cached     bool      `json:"-"`
}

// probeTimeout bounds the KVM smoke boot: a working KVM boots the test
// kernel in about a second; a nested PVM host hangs after SeaBIOS.
const probeTimeout = 20 * time.Second

// ResolveAccel turns auto|kvm|tcg into the accelerator to use. For auto it
// smoke-boots kernel+initrd under KVM (an openable /dev/kvm proves nothing on
// nested hosts) and falls back to TCG; the verdict is cached per host and
// host kernel in cacheDir.
func ResolveAccel(ctx context.Context, want, cacheDir, kernel, initrd string) (*AccelProbe, error) {
	switch want {
	case AccelKVM, AccelTCG:
		return &AccelProbe{Accel: want, Reason: "requested"}, nil
	case "", "auto":
	default:
		return nil, fmt.Errorf("accelerator %q: want auto, kvm or tcg", want)
	}
	hostname, _ := os.Hostname()
	hostKernel := host.KernelRelease()
	cache := filepath.Join(cacheDir, "accel-probe.json")
	if b, err := os.ReadFile(cache); err == nil {
		var p AccelProbe
		if json.Unmarshal(b, &p) == nil && p.Host == hostname && p.HostKernel == hostKernel && p.Accel != "" {
			p.Cached = true
			return &p, nil
		}
	}
	p := &AccelProbe{Host: hostname, HostKernel: hostKernel, ProbedAt: time.Now().UTC()}
	if f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0); err != nil {
		p.Accel, p.Reason = AccelTCG, fmt.Sprintf("/dev/kvm unusable: %v", err)
	} else {
		f.Close()
		res, err := Boot(ctx, BootOptions{Accel: AccelKVM, Kernel: kernel, Initrd: initrd,
			Append: "console=ttyS0 quiet panic=-1", Timeout: probeTimeout})
		switch {
		case err == nil:
			p.Accel, p.Reason = AccelKVM, fmt.Sprintf("KVM smoke boot ready in %.1fs", res.ReadyAfter.Seconds())
		case errors.Is(err, ErrNotReady):
			p.Accel, p.Reason = AccelTCG, fmt.Sprintf("KVM smoke boot not ready within %s", probeTimeout)
		case ctx.Err() != nil:
			return nil, ctx.Err()
		default:
			return nil, fmt.Errorf("accelerator probe: %w", err)
		}
	}
	if b, err := json.MarshalIndent(p, "", "  "); err == nil {
		_ = os.MkdirAll(cacheDir, 0o755)
		_ = atomicfile.WriteFile(cache, b, 0o644)
	}
	return p, nil
}
