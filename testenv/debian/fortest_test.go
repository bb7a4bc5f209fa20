package debian

import (
	"os"
	"testing"
)

// TestBuildForTestUsesTheCache checks the cached path only: a cold build
// takes minutes and is what `make debian-guest` is for.
func TestBuildForTestUsesTheCache(t *testing.T) {
	cached, err := Cached("", 0)
	if err != nil {
		t.Skipf("the Debian guest is not cached (make debian-guest builds it): %v", err)
	}
	g := BuildForTest(t, Options{})
	if g.Dir != cached.Dir || !g.Cached {
		t.Errorf("BuildForTest = %s (cached %v), want the cached %s", g.Dir, g.Cached, cached.Dir)
	}
	if _, err := os.Stat(g.Path(VMDK)); err != nil {
		t.Error(err)
	}
}
