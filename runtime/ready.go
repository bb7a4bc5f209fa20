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

// partialWait is how long a readiness line without its end of line is
// waited on before it is taken as it is.
const partialWait = time.Second

// partialLine is when the readiness line was first seen, in the clock
// and from the pod VM's start.
type partialLine struct {
	since time.Time
	at    time.Duration
}

// readyLineIn finds the readiness line (the text from marker to the end of
// its line, trimmed) in what the console printed, and says whether its
// end of line came yet.
func readyLineIn(buf []byte, marker string) (line string, complete, ok bool) {
	i := bytes.Index(buf, []byte(marker))
	if i < 0 {
		return "", false, false
	}
	line = string(buf[i:])
	if j := strings.IndexAny(line, "\r\n"); j >= 0 {
		line, complete = line[:j], true
	}
	return strings.TrimSpace(line), complete, true
}

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
	var partial *partialLine // when the readiness line was first seen
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
			if l, complete, ok := readyLineIn(buf, c.ReadyLine); ok {
				// The line is taken once it ends, or once it has stood
				// unfinished for partialWait: a slow console (TCG) can
				// be read in the middle of it.
				if partial == nil {
					partial = &partialLine{since: time.Now(), at: time.Since(p.Started)}
				}
				if complete || time.Since(partial.since) >= partialWait {
					line, after = l, partial.at
					return true, nil
				}
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
