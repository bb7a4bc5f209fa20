package testenv

import (
	"os"
	"path/filepath"
)

// DefaultCacheDir is where downloads, builds and probe results are kept
// between runs: $PODVM_CACHE, else $XDG_CACHE_HOME/podvm-migrate, else
// ~/.cache/podvm-migrate.
func DefaultCacheDir() string {
	if d := os.Getenv("PODVM_CACHE"); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "podvm-migrate")
	}
	return filepath.Join(os.TempDir(), "podvm-migrate-cache")
}
