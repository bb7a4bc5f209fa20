package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"libvirt.org/go/libvirt"
)

// serialPoll is how often the serial log is read while waiting: short, so
// readiness is seen within a few milliseconds of the guest printing it.
const serialPoll = 5 * time.Millisecond

// waitReady waits for the guest's readiness (serial line or guest agent),
// a timeout, or ctx, while it watches the serial console and the domain
// for a boot that cannot succeed (boot diagnosis): secure boot refusing
// the loader, no bootable device, no root device, a kernel panic, the
// domain stopping or crashing. Such a boot fails at once with a
// BootFailure naming the cause, and a guest stuck in it is stopped (its
// console log stays for 'logs'). A guest that pauses (KVM internal error)
// is destroyed; one that is merely slow keeps running.
func (r *Runtime) waitReady(ctx context.Context, dom *libvirt.Domain, p *PodVM, c MachineConfig) (string, time.Duration, error) {
	rctx, cancel := context.WithTimeout(ctx, c.ReadyTimeout)
	defer cancel()
	var f *os.File
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	var buf []byte
	var watch consoleWatch
	lastState := time.Time{}
	lastAgent := time.Time{}
	chunk := make([]byte, 64<<10)
	var line string
	var after time.Duration
	// readConsole reads what the console printed since the last call.
	readConsole := func() {
		if f == nil && p.SerialLog != "" {
			f, _ = os.Open(p.SerialLog)
		}
		if f == nil {
			return
		}
		for {
			n, err := f.Read(chunk)
			buf = append(buf, chunk[:n]...)
			watch.feed(chunk[:n])
			if n == 0 || err != nil {
				break
			}
		}
	}
	failed := func(b *BootFailure, stop bool) error {
		what := ""
		if stop {
			_ = dom.Destroy()
			what = "it was stopped; "
		}
		return fmt.Errorf("pod VM %s: %w: %w (%ssee '%s')", p.Name, ErrNotReady, b, what, r.Command("logs", p.Name))
	}
	err := wait.PollUntilContextCancel(rctx, serialPoll, true, func(context.Context) (bool, error) {
		readConsole()
		if c.Ready == ReadySerial {
			if i := bytes.Index(buf, []byte(c.ReadyLine)); i >= 0 {
				line = string(buf[i:])
				if j := strings.IndexAny(line, "\r\n"); j >= 0 {
					line = line[:j]
				}
				line, after = strings.TrimSpace(line), time.Since(p.Started)
				return true, nil
			}
		}
		if len(buf) > 1<<20 {
			buf = buf[len(buf)-len(c.ReadyLine):]
		}
		if c.Ready == ReadyAgent && time.Since(lastAgent) > 500*time.Millisecond {
			lastAgent = time.Now()
			if out, err := dom.QemuAgentCommand(`{"execute":"guest-ping"}`, libvirt.DOMAIN_QEMU_AGENT_COMMAND_NOWAIT, 0); err == nil {
				_ = out
				line, after = "qemu-guest-agent answered guest-ping", time.Since(p.Started)
				return true, nil
			}
		}
		if b := watch.failure; b != nil {
			return false, failed(b, true)
		}
		if time.Since(lastState) > 200*time.Millisecond {
			lastState = time.Now()
			st, reason, err := dom.GetState()
			switch {
			case err != nil:
				return false, fmt.Errorf("pod VM %s: %w: the domain is gone (%v) (see '%s')", p.Name, ErrNotReady, err, r.Command("logs", p.Name))
			case st == libvirt.DOMAIN_PAUSED:
				why := "paused"
				if qemuLogHas(p.Domain, "KVM internal error") {
					why = "paused with a KVM internal error (try --accel tcg)"
				}
				_ = dom.Destroy()
				return false, fmt.Errorf("pod VM %s: %w: the guest %s and was stopped", p.Name, ErrNotReady, why)
			}
			if b := stateFailure(st, reason); b != nil {
				// The console's last words usually say why: read them first.
				readConsole()
				if cb := watch.failure; cb != nil {
					return false, failed(cb, false)
				}
				if l := watch.lastLine(); l != "" {
					b.Evidence += "; last console line: " + l
				}
				return false, failed(b, false)
			}
		}
		return false, nil
	})
	switch {
	case err == nil:
		return line, after, nil
	case ctx.Err() != nil:
		return "", 0, ctx.Err()
	case rctx.Err() != nil && errors.Is(err, rctx.Err()):
		last := ""
		if l := watch.lastLine(); l != "" {
			last = fmt.Sprintf("; last console line: %q", l)
		}
		return "", 0, fmt.Errorf("pod VM %s: %w within %s%s (it keeps running; see '%s')", p.Name, ErrNotReady, c.ReadyTimeout, last, r.Command("logs", p.Name))
	}
	return "", 0, err
}
