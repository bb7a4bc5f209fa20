package convert

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/podvm-migrate/podvm-migrate/convert/remote"
	"github.com/podvm-migrate/podvm-migrate/testenv"
	"github.com/podvm-migrate/podvm-migrate/vsphere"
)

// TestDatastoreSources converts VM disks straight from the datastores of
// testenv's vCenter simulator over /folder/… with range requests: the real
// guest VMDK and the generated vmfs flat disks, with TLS verified by the
// simulator's CA and, separately, by a pinned thumbprint.
func TestDatastoreSources(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the test guest and starts the vCenter simulator")
	}
	g := testGuest(t)
	ctx := context.Background()
	v, err := testenv.StartVSphere(ctx, testenv.VSphereOptions{VMs: 2, GuestVMDK: g.Path(testenv.GuestVMDK)})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	trust := map[string]vsphere.Config{
		"ca":         {URL: v.URL.String(), Username: v.Username, Password: v.Password, CACerts: v.CACertFile},
		"thumbprint": {URL: v.URL.String(), Username: v.Username, Password: v.Password, Thumbprint: v.SHA256},
	}
	for name, cfg := range trust {
		t.Run(name, func(t *testing.T) {
			conn, err := vsphere.Connect(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Logout(ctx)
			converted := 0
			for _, vm := range v.VMs {
				for _, dsPath := range vm.Disks {
					local, err := v.LocalPath(dsPath)
					if err != nil {
						t.Fatal(err)
					}
					u, err := remote.DatastoreURL(ctx, conn.Client, v.Datacenter, dsPath)
					if err != nil {
						t.Fatal(err)
					}
					img, err := OpenURL(ctx, u, "", remote.Options{Client: remote.SessionClient(conn.Client)})
					if err != nil {
						// An RDM's LUN is not a datastore file; the guest disk must work.
						if dsPath == vm.Disks[0] {
							t.Fatalf("%s: %v", dsPath, err)
						}
						t.Logf("%s: %v", dsPath, err)
						continue
					}
					dst := filepath.Join(t.TempDir(), "disk.qcow2")
					_, err = DiskFrom(ctx, img, dsPath, dst, DiskOptions{Verify: true})
					img.Close()
					if err != nil {
						t.Fatalf("%s: %v", dsPath, err)
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
