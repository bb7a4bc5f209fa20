package runtime

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/podvm-migrate/podvm-migrate/image"
)

// RegistryOptions are TLS and credential settings for pulling images.
type RegistryOptions = image.RegistryOptions

// checkTraversable makes sure libvirt-qemu can reach files under dir: every
// folder from / down to dir needs o+x.
func checkTraversable(dir string) error {
	for d := dir; ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil {
			return err
		}
		if st.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("folder %s is not searchable by the libvirt-qemu user: run 'chmod o+x %s'", d, d)
		}
		if d == "/" || d == "." {
			return nil
		}
	}
}

// availableMemoryMiB is what the host can give a new guest (MemAvailable).
func availableMemoryMiB() (int64, error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemAvailable:" {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/meminfo: %w", err)
			}
			return kb / 1024, nil
		}
	}
	return 0, fmt.Errorf("/proc/meminfo: no MemAvailable")
}

// QbootROM is QEMU's minimal firmware for direct kernel boot.
const QbootROM = "/usr/share/qemu/qboot.rom"

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}
