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

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
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
