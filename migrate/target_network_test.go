package migrate

import (
	"context"
	"strings"
	"testing"

	"github.com/podvm-migrate/podvm-migrate/plan"
	"github.com/podvm-migrate/podvm-migrate/podvm"
)

// TestKubeVirtRefusesRuntimeNetworks: a VM planned onto a libvirt network
// or host bridge fails at packaging for KubeVirt, before an image is built
// and pushed, with an error saying the target is runtime-only.
func TestKubeVirtRefusesRuntimeNetworks(t *testing.T) {
	for _, nw := range []string{"libvirt:default", "bridge:br0"} {
		s := podvm.DefaultSpec("web01", 1<<20)
		s.NICs[0].Network = nw
		tgt := &KubeVirtTarget{Registry: "registry.invalid/podvms"}
		_, err := tgt.Package(context.Background(), &plan.PlannedVM{Name: "web01", Spec: s}, []string{"/nonexistent/disk0.qcow2"}, tgt.ImageRef("", "web01"))
		if err == nil || !strings.Contains(err.Error(), "for the included runtime only") || !strings.Contains(err.Error(), nw) {
			t.Errorf("%s: error %v, want it to say the network is runtime-only", nw, err)
		}
	}
}
