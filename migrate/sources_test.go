package migrate

import (
	"context"
	"strings"
	"testing"

	"github.com/podvm-migrate/podvm-migrate/convert"
	"github.com/podvm-migrate/podvm-migrate/plan"
	"github.com/podvm-migrate/podvm-migrate/podvm"
)

func planOf(sources ...string) *plan.Plan {
	vm := plan.PlannedVM{Name: "web01", Spec: podvm.Spec{Name: "web01"}}
	for i, s := range sources {
		vm.Spec.Disks = append(vm.Spec.Disks, podvm.Disk{Name: "disk" + string(rune('0'+i)), Source: s})
	}
	return &plan.Plan{VMs: []plan.PlannedVM{vm}}
}

func TestNeedsVSphere(t *testing.T) {
	for _, c := range []struct {
		sources []string
		want    bool
	}{
		{[]string{"web01/web01.vmdk", "/vms/web01_1.vmdk"}, false},
		{[]string{"web01/web01.vmdk", "[datastore 1] web01/web01_1.vmdk"}, true},
		{[]string{"[ds]web01.vmdk"}, true},
		{[]string{"vm:web01/2000"}, true},
		{[]string{"https://files.example.com/web01.vmdk"}, false},
		{[]string{"[broken"}, false},
	} {
		if got := NeedsVSphere(planOf(c.sources...)); got != c.want {
			t.Errorf("%v: NeedsVSphere %v, want %v", c.sources, got, c.want)
		}
	}
	cfg := Config{Plan: planOf("[datastore1] web01/web01.vmdk"), Run: Options{Parallel: 1, PerDatastore: 1, PerHost: 1}}
	if err := cfg.check(); err == nil || !strings.Contains(err.Error(), "give the vSphere connection (--url or GOVC_URL)") {
		t.Errorf("a datastore disk without a connection: %v", err)
	}
}

func TestLocalFilesRefusesRemoteSources(t *testing.T) {
	open := LocalFiles(t.TempDir(), convert.PathPolicy{})
	for src, want := range map[string]string{
		"":                              "has no source",
		"[datastore1] web01/web01.vmdk": "give the vSphere connection (--url or GOVC_URL)",
		"vm:web01/disk0":                "give the vSphere connection (--url or GOVC_URL)",
		"https://u:secret@h/web01.vmdk": "not a local file",
		"[datastore1":                   `no "]"`,
		"missing.vmdk":                  "missing.vmdk",
	} {
		p := planOf(src)
		_, _, err := open(context.Background(), &p.VMs[0], p.VMs[0].Spec.Disks[0])
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "secret") {
			t.Errorf("%q: error %v, want one mentioning %q", src, err, want)
		}
	}
}
