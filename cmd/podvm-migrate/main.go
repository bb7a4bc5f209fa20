// Command podvm-migrate moves VMware VMs to pod VMs: it discovers them,
// plans and converts them, and runs them on its own KVM runtime or KubeVirt.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// Exit codes that scripts can rely on.
const (
	exitOK      = 0
	exitError   = 1 // the command failed; the message says why
	exitUsage   = 2 // bad flags or arguments
	exitBlocked = 3 // the command worked, but some VMs are blocked
)

// usageError marks an error in how the command was called.
type usageError struct{ error }

// signalled is why a command's context ends when the user stops it.
type signalled struct{ sig syscall.Signal }

func (s signalled) Error() string { return "interrupted (" + s.sig.String() + ")" }

func main() {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigs
		signal.Stop(sigs) // a second Ctrl-C kills at once
		if sig, ok := s.(syscall.Signal); ok {
			cancel(signalled{sig})
		}
	}()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run runs the command line and returns its exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCommand()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var sig signalled
	if errors.As(context.Cause(ctx), &sig) {
		// Stopped by the user: say so in those words, exit 128+signal.
		msg := err.Error()
		if !strings.Contains(msg, "interrupted") {
			msg = "interrupted: " + strings.ReplaceAll(msg, context.Canceled.Error(), "interrupted")
		}
		fmt.Fprintln(stderr, "Error:", msg)
		return 128 + int(sig.sig)
	}
	fmt.Fprintln(stderr, "Error:", err)
	var ue usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	var be blockedError
	if errors.As(err, &be) {
		return exitBlocked
	}
	return exitError
}
