package testguest

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"

	"github.com/podvm-migrate/podvm-migrate/internal/testtool"
)

func TestCPIOIsReadableByCpio(t *testing.T) {
	testtool.Require(t, "cpio")
	var buf bytes.Buffer
	err := writeCPIO(&buf, []cpioEntry{
		{Name: "init", Mode: modeFile | 0o755, Data: []byte("#!/bin/sh\n")},
		{Name: "bin", Mode: modeDir | 0o755},
		{Name: "bin/sh", Mode: modeSymlink | 0o777, Data: []byte("busybox")},
		{Name: "dev/console", Mode: modeCharDev | 0o600, Major: 5, Minor: 1},
		{Name: "odd", Mode: modeFile | 0o644, Data: []byte("abcde")}, // length not a multiple of 4
	})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("cpio", "-t", "-v", "--quiet")
	cmd.Stdin = &buf
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("cpio -t: %v", err)
	}
	listing := string(out)
	for _, want := range []string{"-rwxr-xr-x", "bin/sh -> busybox", "crw-------", "5,", "odd"} {
		if !strings.Contains(listing, want) {
			t.Errorf("cpio listing lacks %q:\n%s", want, listing)
		}
	}
	if n := strings.Count(listing, "\n"); n != 5 {
		t.Errorf("cpio lists %d members, want 5:\n%s", n, listing)
	}
}
