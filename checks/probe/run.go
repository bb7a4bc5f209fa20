// Package probe runs post-migration checks (parsed by package checks)
// against a pod VM: a TCP port that must accept connections, an ICMP ping,
// an HTTP(S) URL that must answer with a given status. Each check is
// retried until it passes or its deadline runs out, since a service may
// come up seconds after the guest reports ready. Where the pod VM is
// reached (its own IP, or a port forward on the host) is an Address that
// the target running it provides. It uses the standard library only.
package probe

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/podvm-migrate/podvm-migrate/checks"
)

// Outcomes of a check.
const (
	Passed  = "passed"
	Failed  = "failed"
	Skipped = "skipped" // the check cannot run where the pod VM is (a reason says why)
)

// Options bound the checks of one pod VM.
type Options struct {
	// Timeout is each check's deadline, retries included; default 60s.
	Timeout time.Duration
	// Interval is the pause between attempts; default 1s.
	Interval time.Duration
	// Attempt bounds one attempt (a dial, a request, a ping); default 5s.
	Attempt time.Duration
	// RelayWait is how long a connection through a relay (Address.Relayed)
	// must stay open, or the guest speak first, for a TCP check to pass;
	// default 1s.
	RelayWait time.Duration
}

func (o *Options) defaults() {
	if o.Timeout <= 0 {
		o.Timeout = time.Minute
	}
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.Attempt <= 0 {
		o.Attempt = 5 * time.Second
	}
	if o.RelayWait <= 0 {
		o.RelayWait = time.Second
	}
}

// Result is how one check ended.
type Result struct {
	Check    string        `json:"check"`            // as written in the plan
	Outcome  string        `json:"outcome"`          // passed | failed | skipped
	Target   string        `json:"target,omitempty"` // what was probed: host:port, IP, URL
	Detail   string        `json:"detail,omitempty"` // what passed, why it failed or was skipped
	Attempts int           `json:"attempts"`
	Duration time.Duration `json:"durationNs"`
}

// OK reports whether the check did not fail (passed or skipped).
func (r Result) OK() bool { return r.Outcome != Failed }

// Run runs the checks against addr, all at once, and returns their results
// in order; done, when not nil, is called with each result as soon as it
// is known (from the check's own goroutine). A nil addr skips every check
// that needs the pod VM's address, with that reason.
func Run(ctx context.Context, addr Address, cs []checks.Check, o Options, done func(i int, r Result)) []Result {
	o.defaults()
	out := make([]Result, len(cs))
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = runOne(ctx, addr, c, o)
			if done != nil {
				done(i, out[i])
			}
		}()
	}
	wg.Wait()
	return out
}

// permanentError is a failure no retry can change (a port that is not
// published, a malformed address).
type permanentError struct{ error }

func (e permanentError) Unwrap() error { return e.error }

// runOne runs check c against addr, again after each failed attempt, until
// it passes, fails for good, or its deadline runs out.
func runOne(ctx context.Context, addr Address, c checks.Check, o Options) Result {
	o.defaults()
	start := time.Now()
	res := Result{Check: c.String()}
	if addr == nil && needsAddress(c) {
		res.Outcome, res.Detail = Skipped, "the target gives no address to reach its pod VMs"
		return res
	}
	dctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	deadline, _ := dctx.Deadline()
	var last error
	for {
		res.Attempts++
		actx, acancel := context.WithTimeout(dctx, o.Attempt)
		target, detail, err := attempt(actx, addr, c, o)
		acancel()
		if target != "" {
			res.Target = target
		}
		var skip *SkippedError
		var perm permanentError
		switch {
		case err == nil:
			res.Outcome, res.Detail = Passed, detail
		case errors.As(err, &skip):
			res.Outcome, res.Detail = Skipped, skip.Reason
		case errors.As(err, &perm):
			res.Outcome, res.Detail = Failed, err.Error()
		}
		if res.Outcome != "" {
			res.Duration = time.Since(start)
			return res
		}
		// An attempt cut short by the check's own deadline says less than
		// the one before it ("i/o timeout" where the port refused). The
		// network code sees that deadline pass before dctx's timer fires,
		// so the clock decides, not dctx.Err alone.
		cut := dctx.Err() != nil || !time.Now().Before(deadline)
		if last == nil || !cut || ctx.Err() != nil {
			last = err
		}
		select {
		case <-dctx.Done():
		case <-time.After(o.Interval):
			if dctx.Err() == nil {
				continue
			}
		}
		res.Outcome, res.Duration = Failed, time.Since(start)
		switch {
		case ctx.Err() != nil:
			res.Detail = fmt.Sprintf("stopped: %v (last attempt: %v)", ctx.Err(), last)
		default:
			res.Detail = fmt.Sprintf("%v (still failing after %d attempts in %s)", last, res.Attempts, o.Timeout)
		}
		return res
	}
}

// needsAddress reports whether check c goes to the pod VM (not to a host
// of its own).
func needsAddress(c checks.Check) bool { return c.Kind == checks.KindPing || c.GuestPort() != 0 }

// attempt tries check c once: what it probed, what passed, or why not.
func attempt(ctx context.Context, addr Address, c checks.Check, o Options) (target, detail string, err error) {
	switch c.Kind {
	case checks.KindTCP:
		hp, err := addr.HostPort(c.Port)
		if err != nil {
			return "", "", permanentError{err}
		}
		detail, err := dialTCP(ctx, hp, addr.Relayed(), o.RelayWait)
		return hp, detail, err
	case checks.KindPing:
		ip, err := addr.PingIP()
		if err != nil {
			var skip *SkippedError
			if errors.As(err, &skip) {
				return "", "", err
			}
			return "", "", permanentError{err}
		}
		rtt, err := Ping(ctx, ip)
		if err != nil {
			return ip, "", err
		}
		return ip, fmt.Sprintf("echo reply in %s", rtt.Round(10*time.Microsecond)), nil
	case checks.KindHTTP:
		return httpGet(ctx, addr, c)
	}
	return "", "", permanentError{fmt.Errorf("unknown check kind %q", c.Kind)}
}
