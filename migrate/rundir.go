package migrate

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/podvm-migrate/podvm-migrate/podvm"
)

// lockFile is the run directory's lock: one migration at a time per run
// directory. It holds the PID of the holder, for the error message.
const lockFile = ".lock"

// lockRunDir takes an exclusive flock on runDir/.lock, or says who holds it.
func lockRunDir(runDir string) (*os.File, error) {
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		return nil, fmt.Errorf("run directory: %w", err)
	}
	path := filepath.Join(runDir, lockFile)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("run directory lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder := strings.TrimSpace(string(b))
			if _, perr := strconv.Atoi(holder); perr != nil {
				holder = "another process"
			} else {
				holder = "pid " + holder
			}
			return nil, fmt.Errorf("run directory %s is in use by %s: wait for it, or use another --run-dir", runDir, holder)
		}
		return nil, fmt.Errorf("run directory lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}

// removeLeftovers deletes what an interrupted run left half-done: the
// converter's temporary targets beside the disks, and image scratch space.
// Finished files never have these names, so nothing done is lost.
func removeLeftovers(runDir string) error {
	partial, err := filepath.Glob(filepath.Join(runDir, "disks", "*", ".*"))
	if err != nil {
		return err
	}
	for _, p := range partial {
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("remove leftover %s: %w", p, err)
		}
	}
	if err := os.RemoveAll(filepath.Join(runDir, "tmp")); err != nil {
		return fmt.Errorf("remove leftover scratch space: %w", err)
	}
	return nil
}

// specHash identifies a spec, so an edited plan rebuilds its image.
func specHash(s *podvm.Spec) string {
	b, _ := json.Marshal(s)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}
