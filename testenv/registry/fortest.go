package registry

import (
	"context"
	"testing"
	"time"

	"github.com/podvm-migrate/podvm-migrate/internal/testtool"
)

// StartForTest starts a registry with its storage in a temporary folder of
// the test and stops it when the test ends. It fails the test when
// docker-registry is not installed (make deps installs it).
func StartForTest(t testing.TB) *Server {
	t.Helper()
	testtool.Require(t, Binary)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	r, err := Start(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	return r
}
