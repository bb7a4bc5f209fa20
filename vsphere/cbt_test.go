package vsphere

import (
	"context"
	"testing"

	"github.com/podvm-migrate/podvm-migrate/testenv/vcsim"
)

// TestSnapshotLifecycle switches CBT on, takes a migration snapshot, reads
// the disks it froze and removes it, as a precopy round does.
func TestSnapshotLifecycle(t *testing.T) {
	ctx := context.Background()
	v := vcsim.StartForTest(t, vcsim.Options{VMs: 4})
	conn := connect(t, Config{URL: v.URL.String(), Username: v.Username, Password: v.Password, CACerts: v.CACertFile})
	var on vcsim.VM
	for _, vm := range v.VMs {
		if vm.PowerState == "poweredOn" && on.Name == "" {
			on = vm
		}
	}
	if on.Name == "" {
		t.Fatalf("simulator VMs %+v: want a powered-on one", v.VMs)
	}
	if err := conn.EnableCBT(ctx, on.MoRef); err != nil {
		t.Fatal(err)
	}
	st, err := conn.VMWarmState(ctx, on.MoRef)
	if err != nil {
		t.Fatal(err)
	}
	if !st.CBT || st.PowerState != "poweredOn" || len(st.Snapshots) != 0 {
		t.Fatalf("after EnableCBT: %+v, want CBT on, powered on and no migration snapshot left", st)
	}
	snap, err := conn.CreateSnapshot(ctx, on.MoRef, SnapshotPrefix+"-1")
	if err != nil {
		t.Fatal(err)
	}
	if st, err = conn.VMWarmState(ctx, on.MoRef); err != nil || len(st.Snapshots) != 1 || st.Snapshots[0].Ref != snap {
		t.Fatalf("after CreateSnapshot: %+v, %v; want the snapshot %s", st, err, snap)
	}
	disks, err := conn.SnapshotDisks(ctx, snap)
	if err != nil {
		t.Fatal(err)
	}
	if len(disks) == 0 || disks[0].File == "" || disks[0].Capacity <= 0 || len(disks[0].Chain) == 0 {
		t.Fatalf("snapshot disks %+v: want the first disk's file, capacity and chain", disks)
	}
	if err := conn.RemoveSnapshot(ctx, snap); err != nil {
		t.Fatal(err)
	}
	if st, err = conn.VMWarmState(ctx, on.MoRef); err != nil || len(st.Snapshots) != 0 {
		t.Fatalf("after RemoveSnapshot: %+v, %v; want no migration snapshot", st, err)
	}
	// Removing it again (a cleanup after a failure) is not an error.
	if err := conn.RemoveSnapshot(ctx, snap); err != nil {
		t.Errorf("removing a removed snapshot: %v", err)
	}
}
