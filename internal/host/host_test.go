package host

import (
	"os"
	"strings"
	"testing"
)

func TestKernelReleaseMatchesProc(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		t.Skip("no /proc/sys/kernel/osrelease to compare with")
	}
	if got, want := KernelRelease(), strings.TrimSpace(string(b)); got != want {
		t.Errorf("KernelRelease() = %q, want %q", got, want)
	}
}
