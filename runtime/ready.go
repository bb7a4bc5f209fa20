package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
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
// the domain pausing or stopping, a timeout, or ctx. A guest that pauses
// (KVM internal error) is destroyed; one that is merely slow keeps running.
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
	lastState := time.Time{}
	lastAgent := time.Time{}
	chunk := make([]byte, 64<<10)
	var line string
	var after time.Duration
	err := wait.PollUntilContextCancel(rctx, serialPoll, true, func(context.Context) (bool, error) {
		if c.Ready == ReadySerial {
			if f == nil {
				f, _ = os.Open(p.SerialLog)
			}
			if f != nil {
				for {
					n, err := f.Read(chunk)
					buf = append(buf, chunk[:n]...)
					if n == 0 || err == io.EOF || err != nil {
						break
					}
				}
				if i := bytes.Index(buf, []byte(c.ReadyLine)); i >= 0 {
					line = string(buf[i:])
					if j := strings.IndexAny(line, "\r\n"); j >= 0 {
						line = line[:j]
					}
					line, after = strings.TrimSpace(line), time.Since(p.Started)
					return true, nil
				}
				if len(buf) > 1<<20 {
					buf = buf[len(buf)-len(c.ReadyLine):]
				}
			}
		}
		if c.Ready == ReadyAgent && time.Since(lastAgent) > 500*time.Millisecond {
			lastAgent = time.Now()
			if out, err := dom.QemuAgentCommand(`{"execute":"guest-ping"}`, libvirt.DOMAIN_QEMU_AGENT_COMMAND_NOWAIT, 0); err == nil {
				_ = out
				line, after = "qemu-guest-agent answered guest-ping", time.Since(p.Started)
				return true, nil
			}
		}
		if time.Since(lastState) > 200*time.Millisecond {
			lastState = time.Now()
			st, _, err := dom.GetState()
			switch {
			case err != nil || st == libvirt.DOMAIN_SHUTOFF || st == libvirt.DOMAIN_CRASHED:
				return false, fmt.Errorf("pod VM %s: %w: the guest stopped before it was ready (see 'podvm-migrate logs %s')", p.Name, ErrNotReady, p.Name)
			case st == libvirt.DOMAIN_PAUSED:
				why := "paused"
				if qemuLogHas(p.Domain, "KVM internal error") {
					why = "paused with a KVM internal error (try --accel tcg)"
				}
				_ = dom.Destroy()
				return false, fmt.Errorf("pod VM %s: %w: the guest %s and was stopped", p.Name, ErrNotReady, why)
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
		return "", 0, fmt.Errorf("pod VM %s: %w within %s (it keeps running; see 'podvm-migrate logs %s')", p.Name, ErrNotReady, c.ReadyTimeout, p.Name)
	}
	return "", 0, err
}
