// Package host reads facts about the machine podvm-migrate runs on, and
// decides once per host kernel whether guests get KVM or TCG.
package host

import (
	"strings"
	"syscall"
)

// KernelRelease is the running kernel's release (uname -r), or "" when it
// cannot be read. Accelerator verdicts are cached per host kernel.
func KernelRelease() string {
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		return ""
	}
	var b strings.Builder
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		b.WriteByte(byte(c))
	}
	return b.String()
}
