// Package cmdrun runs the host tools the test environment is built with
// (qemu-img, mkfs.vfat, debootstrap, …) and turns their failures into
// errors that carry the tool's last line of output. Standard library only.
package cmdrun

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// Run runs a host tool and turns a failure into an error carrying its output.
func Run(ctx context.Context, args ...string) error {
	return RunEnv(ctx, nil, args...)
}

// RunEnv is Run with extra environment variables (NAME=value).
func RunEnv(ctx context.Context, env []string, args ...string) error {
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, LastLine(out))
	}
	return nil
}

// LastLine returns the last non-empty line of a tool's output, which is
// where tools put the reason they failed.
func LastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
