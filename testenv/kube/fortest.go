package kube

import (
	"context"
	"testing"
	"time"
)

// StartForTest starts a Server for one test (or one test package) and
// stops it when the test ends. The first run on a machine builds
// kube-apiserver into the cache, which takes minutes; later runs take
// seconds.
func StartForTest(t testing.TB, o Options) *Server {
	t.Helper()
	if o.Log == nil {
		o.Log = t.Logf
	}
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute)
	defer cancel()
	k, err := Start(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Stop)
	t.Logf("kube: binary %s (built: %v), etcd %s, kube-apiserver %s, CRDs %s, total %s",
		k.Timings.Binary.Round(time.Millisecond), k.Timings.Built, k.Timings.Etcd.Round(time.Millisecond),
		k.Timings.APIServer.Round(time.Millisecond), k.Timings.CRDs.Round(time.Millisecond), k.Timings.Total.Round(time.Millisecond))
	return k
}
