package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/podvm-migrate/podvm-migrate/internal/output"
	"github.com/podvm-migrate/podvm-migrate/runrecord"
)

// TestInterruptedExitCode: a command stopped by Ctrl-C exits 130 (SIGTERM:
// 143) and says "interrupted", not "context canceled".
func TestInterruptedExitCode(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "disk.raw")
	if err := os.WriteFile(src, bytes.Repeat([]byte{1}, 4<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		sig  syscall.Signal
		code int
	}{{syscall.SIGINT, 130}, {syscall.SIGTERM, 143}} {
		ctx, cancel := context.WithCancelCause(context.Background())
		cancel(signalled{c.sig})
		var stdout, stderr bytes.Buffer
		code := run(ctx, []string{"convert", "disk", src, filepath.Join(dir, "out-"+c.sig.String()+".qcow2")}, &stdout, &stderr)
		if code != c.code || !strings.Contains(stderr.String(), "interrupted") || strings.Contains(stderr.String(), "context canceled") {
			t.Errorf("%s: exit %d, %q; want %d and interrupted", c.sig, code, stderr.String(), c.code)
		}
	}
}

// TestProgressWarnsOnStderr: a warning event (a powered-on source copied
// cold) is a line on stderr in every output format, JSON too.
func TestProgressWarnsOnStderr(t *testing.T) {
	e := runrecord.Event{VM: "web01", Phase: runrecord.PhaseQuiesce, Result: runrecord.ResultWarning,
		Attrs: map[string]string{"note": "the source VM is powered on: a cold copy is crash-inconsistent; use --source-power-off or --warm"}}
	for _, f := range []output.Format{output.Table, output.JSON} {
		var stdout, stderr bytes.Buffer
		newProgress(&stderr, &stdout, f).Event(e)
		if !strings.Contains(stderr.String(), "web01") || !strings.Contains(stderr.String(), "--source-power-off or --warm") {
			t.Errorf("-o %s: stderr %q", f, stderr.String())
		}
	}
}
