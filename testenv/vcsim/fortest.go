package vcsim

import (
	"context"
	"testing"
	"time"
)

// StartForTest starts a simulator for one test (or one test package) and
// closes it when the test ends. Its files go to a temporary folder of the
// test unless o.Dir is set, and it logs to the test unless o.Log is set.
// The simulator runs in-process, so no host can fail to provide it.
func StartForTest(t testing.TB, o Options) *Simulator {
	t.Helper()
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	if o.Log == nil {
		o.Log = t.Logf
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	v, err := Start(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v
}
