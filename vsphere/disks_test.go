package vsphere

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podvm-migrate/podvm-migrate/convert"
	"github.com/podvm-migrate/podvm-migrate/disksource"
	"github.com/podvm-migrate/podvm-migrate/testenv/testguest"
	"github.com/podvm-migrate/podvm-migrate/testenv/vcsim"
)

// sharedGuest is the BIOS test guest, built once for the whole package
// (TestMain removes it).
var sharedGuest = testguest.Shared{Prefix: "podvm-vsphere-guest-"}

func testGuest(t *testing.T) *testguest.Guest { return sharedGuest.Get(t) }

// startGuestVSphere serves a simulator whose VMs' first disk is the test
// guest.
func startGuestVSphere(t *testing.T, vms int) (*testguest.Guest, *vcsim.Simulator) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the test guest and starts the vCenter simulator")
	}
	g := testGuest(t)
	v, err := vcsim.Start(context.Background(), vcsim.Options{VMs: vms, GuestVMDK: g.Path(testguest.VMDK)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return g, v
}

// connect logs in to a simulator until the test ends.
func connect(t *testing.T, cfg Config) *Conn {
	t.Helper()
	conn, err := Connect(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Logout(context.Background()) })
	return conn
}

// qemuCompare checks with qemu-img that two images hold the same guest bytes.
func qemuCompare(t testing.TB, a, b string) {
	t.Helper()
	out, err := exec.Command("qemu-img", "compare", a, b).CombinedOutput()
	if err != nil {
		t.Fatalf("qemu-img compare %s %s: %v\n%s", filepath.Base(a), filepath.Base(b), err, out)
	}
}

// TestDatastoreSources converts VM disks straight from the datastores of
// testenv's vCenter simulator over /folder/… with range requests: the real
// guest VMDK and the generated vmfs flat disks, with TLS verified by the
// simulator's CA and, separately, by a pinned thumbprint.
func TestDatastoreSources(t *testing.T) {
	_, v := startGuestVSphere(t, 2)
	ctx := context.Background()
	trust := map[string]Config{
		"ca":         {URL: v.URL.String(), Username: v.Username, Password: v.Password, CACerts: v.CACertFile},
		"thumbprint": {URL: v.URL.String(), Username: v.Username, Password: v.Password, Thumbprint: v.SHA256},
	}
	for name, cfg := range trust {
		t.Run(name, func(t *testing.T) {
			conn := connect(t, cfg)
			converted := 0
			for _, vm := range v.VMs {
				for _, dsPath := range vm.Disks {
					local, err := v.LocalPath(dsPath)
					if err != nil {
						t.Fatal(err)
					}
					src, err := disksource.Parse(dsPath)
					if err != nil {
						t.Fatal(err)
					}
					dst := filepath.Join(t.TempDir(), "disk.qcow2")
					_, err = convert.Disk(ctx, src, dst, convert.DiskOptions{Opener: conn, Datacenter: v.Datacenter, Verify: true})
					if err != nil {
						// An RDM's LUN is not a datastore file; the guest disk must work.
						if dsPath == vm.Disks[0] {
							t.Fatalf("%s: %v", dsPath, err)
						}
						t.Logf("%s: %v", dsPath, err)
						continue
					}
					qemuCompare(t, local, dst)
					converted++
				}
			}
			if converted < 2 {
				t.Errorf("converted %d disks, want at least the guest disk of each VM", converted)
			}
		})
	}
}

// TestVMSourceThroughExportLease converts a disk named by VM and disk,
// "vm:NAME/DISK", which reads it through an ExportVm NFC lease (testenv adds
// ExportVm to the simulator): served as streamOptimized, front to back.
func TestVMSourceThroughExportLease(t *testing.T) {
	g, v := startGuestVSphere(t, 3)
	ctx := context.Background()
	conn := connect(t, Config{URL: v.URL.String(), Username: v.Username, Password: v.Password, CACerts: v.CACertFile})
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
	res, err := convert.Disk(ctx, disksource.Source{Kind: disksource.KindVM, VM: off, Disk: "disk0"}, dst, convert.DiskOptions{Opener: conn, Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.SourceFormat != "vmdk/streamOptimized" {
		t.Errorf("read as %s, not as the lease serves it", res.SourceFormat)
	}
	qemuCompare(t, g.Path(testguest.Raw), dst)

	for src, want := range map[string]string{
		"vm:" + on + "/disk0":  "powered-off",
		"vm:" + off + "/disk9": "no disk",
		"vm:nope/disk0":        "nope",
		"vm:" + off:            "want vm:NAME/DISK",
	} {
		s, err := disksource.Parse(src)
		if err == nil {
			_, err = convert.Disk(ctx, s, filepath.Join(t.TempDir(), "x.qcow2"), convert.DiskOptions{Opener: conn})
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one mentioning %q", src, err, want)
		}
	}
	// Without a session, the error says what to give.
	if _, err := convert.Disk(ctx, disksource.Source{Kind: disksource.KindVM, VM: off, Disk: "disk0"}, dst+".2", convert.DiskOptions{}); err == nil || !strings.Contains(err.Error(), "--url or GOVC_URL") {
		t.Errorf("a VM source without a session: %v", err)
	}
}
