package convert

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podvm-migrate/podvm-migrate/testenv"
	"github.com/podvm-migrate/podvm-migrate/vsphere"
)

// TestVMSourceThroughExportLease converts a disk named by VM and disk,
// "vm:NAME/DISK", which reads it through an ExportVm NFC lease (testenv adds
// ExportVm to the simulator): served as streamOptimized, front to back.
func TestVMSourceThroughExportLease(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the test guest and starts the vCenter simulator")
	}
	g := testGuest(t)
	ctx := context.Background()
	v, err := testenv.StartVSphere(ctx, testenv.VSphereOptions{VMs: 3, GuestVMDK: g.Path(testenv.GuestVMDK)})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	cfg := &vsphere.Config{URL: v.URL.String(), Username: v.Username, Password: v.Password, CACerts: v.CACertFile}
	var off, on string
	for _, vm := range v.VMs {
		switch {
		case vm.PowerState == "poweredOff" && off == "":
			off = vm.Name
		case vm.PowerState == "poweredOn" && on == "":
			on = vm.Name
		}
	}
	if off == "" || on == "" {
		t.Fatalf("simulator VMs %+v: want a powered-off and a powered-on one", v.VMs)
	}
	dst := filepath.Join(t.TempDir(), "disk.qcow2")
	res, err := Disk(ctx, "vm:"+off+"/disk0", dst, DiskOptions{VSphere: cfg, Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.SourceFormat != "vmdk/streamOptimized" {
		t.Errorf("read as %s, not as the lease serves it", res.SourceFormat)
	}
	qemuCompare(t, g.Path(testenv.GuestRaw), dst)

	for src, want := range map[string]string{
		"vm:" + on + "/disk0":  "powered-off",
		"vm:" + off + "/disk9": "no disk",
		"vm:nope/disk0":        "nope",
		"vm:" + off:            "want vm:NAME/DISK",
	} {
		if _, err := Disk(ctx, src, filepath.Join(t.TempDir(), "x.qcow2"), DiskOptions{VSphere: cfg}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one mentioning %q", src, err, want)
		}
	}
}
