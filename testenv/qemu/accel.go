package qemu

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/podvm-migrate/podvm-migrate/internal/host"
)

// AccelProbe is the outcome of a smoke boot that decides between KVM and TCG.
type AccelProbe = host.Verdict

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
	return host.CachedVerdict(ctx, filepath.Join(cacheDir, "accel-probe.json"), func(ctx context.Context) (host.Verdict, bool, error) {
		res, err := Boot(ctx, BootOptions{Accel: AccelKVM, Kernel: kernel, Initrd: initrd,
			Append: "console=ttyS0 quiet panic=-1", Timeout: probeTimeout})
		switch {
		case err == nil:
			return host.Verdict{Accel: AccelKVM, Reason: fmt.Sprintf("KVM smoke boot ready in %.1fs", res.ReadyAfter.Seconds())}, true, nil
		case errors.Is(err, ErrNotReady):
			return host.Verdict{Accel: AccelTCG, Reason: fmt.Sprintf("KVM smoke boot not ready within %s", probeTimeout)}, true, nil
		case ctx.Err() != nil:
			return host.Verdict{}, false, ctx.Err()
		default:
			return host.Verdict{}, false, fmt.Errorf("accelerator probe: %w", err)
		}
	})
}
