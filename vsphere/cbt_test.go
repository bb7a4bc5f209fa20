package vsphere

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/podvm-migrate/podvm-migrate/convert"
	"github.com/podvm-migrate/podvm-migrate/convert/block"
	"github.com/podvm-migrate/podvm-migrate/disksource"
	"github.com/podvm-migrate/podvm-migrate/testenv/testguest"
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

// TestChangedAreasAndFrozenReads runs precopy's calls against the CBT
// double: a full copy ("*") then the changes since each snapshot's change
// id, paged, with the bytes read from the frozen file over datastore HTTP
// being what the guest wrote before the snapshot.
func TestChangedAreasAndFrozenReads(t *testing.T) {
	for _, base := range []string{"flat", "sparse"} {
		t.Run(base, func(t *testing.T) {
			o := vcsim.Options{VMs: 7, CBT: true, ChangedAreasPage: 2}
			if base == "sparse" {
				o.GuestVMDK = testGuest(t).Path(testguest.VMDK) // monolithicSparse
			}
			testChangedAreas(t, o)
		})
	}
}

func testChangedAreas(t *testing.T, o vcsim.Options) {
	ctx := context.Background()
	v := vcsim.StartForTest(t, o)
	conn := connect(t, Config{URL: v.URL.String(), Username: v.Username, Password: v.Password, CACerts: v.CACertFile})
	var on vcsim.VM
	for _, vm := range v.VMs {
		if vm.PowerState == "poweredOn" && !vm.Has("snapshots") && !vm.Has("independentDisk") && on.Name == "" {
			on = vm
		}
	}
	if on.Name == "" {
		t.Fatal("no simple powered-on VM")
	}
	fill := func(b byte) []byte { return bytes.Repeat([]byte{b}, 64<<10) }
	var key int32
	var changeID string
	round := func(want map[int64]byte, full bool) {
		t.Helper()
		snap, err := conn.CreateSnapshot(ctx, on.MoRef, SnapshotPrefix+"-t")
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := conn.RemoveSnapshot(ctx, snap); err != nil {
				t.Fatal(err)
			}
		}()
		disks, err := conn.SnapshotDisks(ctx, snap)
		if err != nil {
			t.Fatal(err)
		}
		d := disks[0]
		key = d.Key
		since := changeID
		if full {
			since = "*"
		}
		areas, err := conn.ChangedAreas(ctx, on.MoRef, snap, d.Key, since, d.Capacity)
		if err != nil {
			t.Fatal(err)
		}
		changed := map[int64]bool{}
		for _, a := range areas {
			for off := a.Offset; off < a.Offset+a.Length; off += 64 << 10 {
				changed[off] = true
			}
		}
		src, _ := disksource.Parse(d.File)
		img, done, err := conn.Open(ctx, src, convert.SourceOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer done()
		defer img.Close()
		for off, b := range want {
			if !changed[off] {
				t.Errorf("since %s: offset %d is not among the changed areas %+v", since, off, areas)
			}
			got := make([]byte, 64<<10)
			r, err := img.Map(ctx, off, int64(len(got)))
			if err != nil || r.Kind != block.Data || r.Length != int64(len(got)) {
				t.Fatalf("frozen %s at %d: %+v %v", d.File, off, r, err)
			}
			if err := r.Read(ctx, got); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, fill(b)) {
				t.Errorf("frozen %s at %d holds %x..., want %x", d.File, off, got[:4], b)
			}
		}
		changeID = d.ChangeID
	}
	write := func(off int64, b byte) {
		t.Helper()
		if err := v.GuestWrite(on.MoRef, key, off, fill(b)); err != nil {
			t.Fatal(err)
		}
	}
	round(map[int64]byte{}, true)
	write(40<<20, 0xa1)
	write(50<<20, 0xb1)
	round(map[int64]byte{40 << 20: 0xa1, 50 << 20: 0xb1}, false)
	write(40<<20, 0xa2)
	write(60<<20, 0xc1)
	round(map[int64]byte{40 << 20: 0xa2, 60 << 20: 0xc1}, false)
	write(40<<20, 0xa3)
	round(map[int64]byte{40 << 20: 0xa3, 50 << 20: 0xb1, 60 << 20: 0xc1}, true)
	// An unknown change id is ErrChangeIDInvalid: the disk starts over.
	snap, err := conn.CreateSnapshot(ctx, on.MoRef, SnapshotPrefix+"-x")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.RemoveSnapshot(ctx, snap)
	if _, err := conn.ChangedAreas(ctx, on.MoRef, snap, key, "52 00 00 00 00 00 00 00-00 00 00 00 00 00 00 00/1", 64<<20); !errors.Is(err, ErrChangeIDInvalid) {
		t.Errorf("unknown change id: %v, want ErrChangeIDInvalid", err)
	}
}
