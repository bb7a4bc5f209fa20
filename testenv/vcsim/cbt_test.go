package vcsim

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/podvm-migrate/podvm-migrate/convert"
	"github.com/podvm-migrate/podvm-migrate/disksource"
	"github.com/podvm-migrate/podvm-migrate/vsphere"
)

// cbtVMIndex is db-0003: powered on, a first disk and an NVMe disk, both
// persistent, no snapshots of its own.
const cbtVMIndex = 3

// cbtEnv is a simulator, a client and the VM the CBT tests drive.
type cbtEnv struct {
	t    *testing.T
	ctx  context.Context
	v    *Simulator
	c    *govmomi.Client
	vm   *object.VirtualMachine
	name string
}

func newCBTEnv(t *testing.T, o Options) *cbtEnv {
	t.Helper()
	if o.VMs == 0 {
		o.VMs = 4
	}
	v := StartForTest(t, o)
	c, err := v.Client(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Logout(context.Background()) })
	sv := v.VMs[cbtVMIndex]
	if !sv.Has("nvme") || sv.PowerState != "poweredOn" {
		t.Fatalf("VM %d is %v %s: the tests want a powered-on VM with an NVMe disk", cbtVMIndex, sv.Features, sv.PowerState)
	}
	vm := object.NewVirtualMachine(c.Client, types.ManagedObjectReference{Type: "VirtualMachine", Value: sv.MoRef})
	return &cbtEnv{t: t, ctx: t.Context(), v: v, c: c, vm: vm, name: sv.Name}
}

// disks returns the VM's disks (first disk first).
func (e *cbtEnv) disks() []*types.VirtualDisk {
	e.t.Helper()
	var m mo.VirtualMachine
	if err := e.vm.Properties(e.ctx, e.vm.Reference(), []string{"config.hardware.device"}, &m); err != nil {
		e.t.Fatal(err)
	}
	var out []*types.VirtualDisk
	for _, d := range object.VirtualDeviceList(m.Config.Hardware.Device).SelectByType((*types.VirtualDisk)(nil)) {
		disk := d.(*types.VirtualDisk)
		if b := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo); b.DiskMode == string(types.VirtualDiskModePersistent) {
			out = append(out, disk)
		}
	}
	return out
}

func (e *cbtEnv) backing(key int32) *types.VirtualDiskFlatVer2BackingInfo {
	e.t.Helper()
	for _, d := range e.disks() {
		if d.Key == key {
			return d.Backing.(*types.VirtualDiskFlatVer2BackingInfo)
		}
	}
	e.t.Fatalf("no disk %d", key)
	return nil
}

func (e *cbtEnv) reconfigure(spec types.VirtualMachineConfigSpec) error {
	task, err := e.vm.Reconfigure(e.ctx, spec)
	if err != nil {
		return err
	}
	return task.Wait(e.ctx)
}

func (e *cbtEnv) setCBT(on bool) {
	e.t.Helper()
	if err := e.reconfigure(types.VirtualMachineConfigSpec{ChangeTrackingEnabled: types.NewBool(on)}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *cbtEnv) snapshot(name string) types.ManagedObjectReference {
	e.t.Helper()
	task, err := e.vm.CreateSnapshot(e.ctx, name, "", false, false)
	if err != nil {
		e.t.Fatal(err)
	}
	res, err := task.WaitForResult(e.ctx)
	if err != nil {
		e.t.Fatalf("snapshot %s: %v", name, err)
	}
	return res.Result.(types.ManagedObjectReference)
}

func (e *cbtEnv) removeSnapshot(snap types.ManagedObjectReference) {
	e.t.Helper()
	consolidate := true
	task, err := e.vm.RemoveSnapshot(e.ctx, snap.Value, false, &consolidate)
	if err == nil {
		err = task.Wait(e.ctx)
	}
	if err != nil {
		e.t.Fatalf("remove snapshot %s: %v", snap.Value, err)
	}
}

// snapshotBacking is the disk's backing in the snapshot's config: the
// file the snapshot froze and its changeId.
func (e *cbtEnv) snapshotBacking(snap types.ManagedObjectReference, key int32) *types.VirtualDiskFlatVer2BackingInfo {
	e.t.Helper()
	var s mo.VirtualMachineSnapshot
	if err := property.DefaultCollector(e.c.Client).RetrieveOne(e.ctx, snap, []string{"config"}, &s); err != nil {
		e.t.Fatal(err)
	}
	for _, d := range s.Config.Hardware.Device {
		if disk, ok := d.(*types.VirtualDisk); ok && disk.Key == key {
			return disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo)
		}
	}
	e.t.Fatalf("snapshot %s has no disk %d", snap.Value, key)
	return nil
}

// query asks for every page of changed areas, as a client loops, and
// returns the areas and the number of answers.
func (e *cbtEnv) query(snap *types.ManagedObjectReference, key int32, capacity int64, changeID string) ([]types.DiskChangeExtent, int, error) {
	var areas []types.DiskChangeExtent
	pages := 0
	for start := int64(0); start < capacity; {
		res, err := methods.QueryChangedDiskAreas(e.ctx, e.c.Client, &types.QueryChangedDiskAreas{
			This: e.vm.Reference(), Snapshot: snap, DeviceKey: key, StartOffset: start, ChangeId: changeID})
		if err != nil {
			return nil, pages, err
		}
		info := res.Returnval
		pages++
		if info.StartOffset != start || info.Length <= 0 {
			e.t.Fatalf("answer for start %d covers %d+%d", start, info.StartOffset, info.Length)
		}
		for _, a := range info.ChangedArea {
			if a.Start < start || a.Start+a.Length > info.StartOffset+info.Length {
				e.t.Fatalf("area %d+%d outside the answer's window %d+%d", a.Start, a.Length, info.StartOffset, info.Length)
			}
		}
		areas = append(areas, info.ChangedArea...)
		start = info.StartOffset + info.Length
	}
	return areas, pages, nil
}

// blocksOf lists the 64 KiB blocks areas cover.
func blocksOf(areas []types.DiskChangeExtent) map[int64]bool {
	out := map[int64]bool{}
	for _, a := range areas {
		for b := a.Start / cbtBlock; b*cbtBlock < a.Start+a.Length; b++ {
			out[b] = true
		}
	}
	return out
}

func sameBlocks(t *testing.T, what string, got map[int64]bool, want map[int64]bool) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d blocks, want %d (%v, want %v)", what, len(got), len(want), keys(got), keys(want))
		return
	}
	for b := range want {
		if !got[b] {
			t.Errorf("%s: block %d missing (%v, want %v)", what, b, keys(got), keys(want))
			return
		}
	}
}

func keys(m map[int64]bool) []int64 {
	var out []int64
	for k := range m {
		out = append(out, k)
	}
	return out
}

// guest is what the test expects the guest to see on one disk.
type guest struct {
	data []byte
	rng  *rand.Rand
}

// write writes random 64 KiB blocks as the guest, into the simulator and
// the expectation; it returns the blocks.
func (e *cbtEnv) write(g *guest, key int32, blocks ...int64) map[int64]bool {
	e.t.Helper()
	out := map[int64]bool{}
	for _, b := range blocks {
		p := make([]byte, cbtBlock)
		fillRandom(g.rng, p)
		if err := e.v.GuestWrite(e.name, key, b*cbtBlock, p); err != nil {
			e.t.Fatal(err)
		}
		copy(g.data[b*cbtBlock:], p)
		out[b] = true
	}
	return out
}

// guestView reads a disk chain from its top file with the convert
// package, as the migration reads it, and checks qemu-img agrees.
func guestView(t *testing.T, v *Simulator, dsPath string) []byte {
	t.Helper()
	local, err := v.LocalPath(dsPath)
	if err != nil {
		t.Fatal(err)
	}
	raw := filepath.Join(t.TempDir(), "guest.raw")
	if _, err := convert.Disk(t.Context(), disksource.File(local), raw, convert.DiskOptions{Format: convert.FormatRaw}); err != nil {
		t.Fatalf("convert %s: %v", dsPath, err)
	}
	got, err := os.ReadFile(raw)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("qemu-img"); err == nil {
		if out, err := exec.Command("qemu-img", "compare", "-f", "vmdk", "-F", "raw", local, raw).CombinedOutput(); err != nil {
			t.Errorf("qemu-img compare %s: %v: %s", dsPath, err, out)
		}
		if out, err := exec.Command("qemu-img", "check", "-f", "vmdk", local).CombinedOutput(); err != nil {
			t.Errorf("qemu-img check %s: %v: %s", dsPath, err, out)
		}
	}
	return got
}

// remoteView reads a disk chain over the simulator's datastore HTTP
// interface (range requests, parents by parentFileNameHint), as the warm
// migration reads a frozen chain.
func remoteView(t *testing.T, v *Simulator, dsPath string) []byte {
	t.Helper()
	conn, err := vsphere.Connect(t.Context(), vsphere.Config{URL: v.URL.String(), Username: v.Username, Password: v.Password, CACerts: v.CACertFile})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Logout(context.Background())
	src, err := disksource.Parse(dsPath)
	if err != nil {
		t.Fatal(err)
	}
	raw := filepath.Join(t.TempDir(), "remote.raw")
	if _, err := convert.Disk(t.Context(), src, raw, convert.DiskOptions{Opener: conn, Datacenter: v.Datacenter, Format: convert.FormatRaw}); err != nil {
		t.Fatalf("convert %s over the datastore: %v", dsPath, err)
	}
	got, err := os.ReadFile(raw)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// sparseGuest writes a monolithicSparse VMDK of 8 MiB holding data in its
// first 1 MiB and at 5 MiB, and returns it and its guest bytes.
func sparseGuest(t *testing.T) (string, []byte) {
	t.Helper()
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Skip("qemu-img is not installed (make deps)")
	}
	dir := t.TempDir()
	data := make([]byte, 8<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	fillRandom(rng, data[:1<<20])
	fillRandom(rng, data[5<<20:5<<20+3*cbtBlock])
	raw := filepath.Join(dir, "guest.raw")
	if err := os.WriteFile(raw, data, 0o644); err != nil {
		t.Fatal(err)
	}
	vmdk := filepath.Join(dir, "guest.vmdk")
	if out, err := exec.Command("qemu-img", "convert", "-f", "raw", "-O", "vmdk", raw, vmdk).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img: %v: %s", err, out)
	}
	return vmdk, data
}

func faultOf(err error) any {
	if err != nil && soap.IsSoapFault(err) {
		return soap.ToSoapFault(err).VimFault()
	}
	return nil
}

func isFileFault(err error) bool {
	switch faultOf(err).(type) {
	case *types.FileFault, types.FileFault:
		return true
	}
	return false
}

func isInvalidArgument(err error, prop string) bool {
	switch f := faultOf(err).(type) {
	case *types.InvalidArgument:
		return f.InvalidProperty == prop
	case types.InvalidArgument:
		return f.InvalidProperty == prop
	}
	return false
}

var errNotYet = errors.New("not yet")

// eventually retries f until it succeeds or a minute passes.
func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSnapshotDeltasAndChangedAreas drives one disk through two
// precopy rounds as the warm migration does, on a generated flat disk and
// on a monolithicSparse guest disk hard-linked from a shared file.
func TestSnapshotDeltasAndChangedAreas(t *testing.T) {
	for _, base := range []string{"flat", "monolithicSparse"} {
		t.Run(base, func(t *testing.T) {
			o := Options{}
			var initial []byte
			var guestSum string
			if base == "monolithicSparse" {
				o.GuestVMDK, initial = sparseGuest(t)
				b, _ := os.ReadFile(o.GuestVMDK)
				guestSum = sum(b)
			}
			e := newCBTEnv(t, o)
			disk := e.disks()[0]
			key, capacity := disk.Key, disk.CapacityInBytes
			if initial == nil {
				initial = make([]byte, capacity)
			}
			g := &guest{data: append([]byte{}, initial...), rng: rand.New(rand.NewPCG(3, 4))}
			base := e.backing(key).FileName

			// CBT on: no changeId until the VM is stunned.
			e.setCBT(true)
			if id := e.backing(key).ChangeId; id != "" {
				t.Fatalf("changeId %q before any stun", id)
			}
			e.write(g, key, 20, 21, 40)
			beforeS1 := append([]byte{}, g.data...)

			s1 := e.snapshot("round-1")
			sb := e.snapshotBacking(s1, key)
			if sb.FileName != base || sb.ChangeId == "" {
				t.Fatalf("snapshot backing %s %q: want the frozen base %s and a changeId", sb.FileName, sb.ChangeId, base)
			}
			c1 := sb.ChangeId
			if u, n, ok := parseChangeID(c1); !ok || n < 1 || len(u) != 47 {
				t.Fatalf("changeId %q is not uuid/seq", c1)
			}
			top := e.backing(key)
			if top.FileName == base || top.Parent == nil || top.Parent.FileName != base || top.ChangeId != c1 {
				t.Fatalf("after the snapshot the disk is %s (parent %+v, changeId %q): want a delta over %s with changeId %s", top.FileName, top.Parent, top.ChangeId, base, c1)
			}
			if !strings.HasSuffix(top.FileName, "-000001.vmdk") || disk.CapacityInBytes != e.disks()[0].CapacityInBytes {
				t.Errorf("delta %s, capacity %d", top.FileName, e.disks()[0].CapacityInBytes)
			}

			// "*": every allocated block of the frozen disk.
			want := map[int64]bool{}
			for b := int64(0); b*cbtBlock < capacity; b++ {
				if !bytes.Equal(beforeS1[b*cbtBlock:(b+1)*cbtBlock], make([]byte, cbtBlock)) {
					want[b] = true
				}
			}
			all, _, err := e.query(&s1, key, capacity, "*")
			if err != nil {
				t.Fatal(err)
			}
			sameBlocks(t, `"*" at round 1`, blocksOf(all), want)

			// Writes go to the delta; the frozen base keeps the snapshot's data.
			b1 := e.write(g, key, 21, 22, 100)
			if got := guestView(t, e.v, base); sum(got) != sum(beforeS1) {
				t.Errorf("the frozen base changed after the snapshot")
			}
			if got := guestView(t, e.v, top.FileName); sum(got) != sum(g.data) {
				t.Errorf("the delta chain does not read as base plus the writes")
			}
			if got := remoteView(t, e.v, top.FileName); sum(got) != sum(g.data) {
				t.Errorf("the delta chain read over the datastore does not read as base plus the writes")
			}
			if got := remoteView(t, e.v, sb.FileName); sum(got) != sum(beforeS1) {
				t.Errorf("the frozen file read over the datastore does not hold the snapshot's data")
			}

			// Removing the snapshot merges the delta into the base.
			e.removeSnapshot(s1)
			after := e.backing(key)
			if after.FileName != base || after.Parent != nil || after.ChangeId == c1 || after.ChangeId == "" {
				t.Fatalf("after removal the disk is %s (parent %v) with changeId %q: want %s with a new changeId", after.FileName, after.Parent, after.ChangeId, base)
			}
			if local, _ := e.v.LocalPath(top.FileName); fileExists(local) {
				t.Errorf("delta %s left behind", local)
			}
			if got := guestView(t, e.v, base); sum(got) != sum(g.data) {
				t.Errorf("after the merge the base does not hold what the guest wrote")
			}

			// Round 2: exactly what changed since round 1's changeId.
			b2 := e.write(g, key, 100, 7)
			s2 := e.snapshot("round-2")
			areas, _, err := e.query(&s2, key, capacity, c1)
			if err != nil {
				t.Fatal(err)
			}
			for b := range b2 {
				b1[b] = true
			}
			sameBlocks(t, "changes since round 1", blocksOf(areas), b1)
			c2 := e.snapshotBacking(s2, key).ChangeId
			if none, _, err := e.query(&s2, key, capacity, c2); err != nil || len(none) != 0 {
				t.Errorf("changes since the snapshot's own changeId: %v, %v", none, err)
			}
			e.removeSnapshot(s2)
			if got := guestView(t, e.v, base); sum(got) != sum(g.data) {
				t.Errorf("after round 2 the disk does not hold what the guest wrote")
			}
			if guestSum != "" {
				b, _ := os.ReadFile(o.GuestVMDK)
				if sum(b) != guestSum {
					t.Errorf("the shared guest VMDK %s changed: writes must go to the VM's own copy", o.GuestVMDK)
				}
			}
		})
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// TestChangedAreasArePaged writes scattered blocks and reads them back a
// page at a time, as a client loops over startOffset and length.
func TestChangedAreasArePaged(t *testing.T) {
	e := newCBTEnv(t, Options{ChangedAreasPage: 3})
	disk := e.disks()[0]
	g := &guest{data: make([]byte, disk.CapacityInBytes), rng: rand.New(rand.NewPCG(5, 6))}
	e.setCBT(true)
	s0 := e.snapshot("start")
	c0 := e.snapshotBacking(s0, disk.Key).ChangeId
	e.removeSnapshot(s0)
	// Ten areas: 0-1 is one area of two blocks, the others single blocks.
	written := e.write(g, disk.Key, 0, 1, 10, 20, 30, 40, 50, 60, 70, 80, 1023)
	s1 := e.snapshot("paged")
	areas, pages, err := e.query(&s1, disk.Key, disk.CapacityInBytes, c0)
	if err != nil {
		t.Fatal(err)
	}
	sameBlocks(t, "paged changes", blocksOf(areas), written)
	if len(areas) != 10 || pages != 4 {
		t.Errorf("%d areas in %d answers, want 10 in 4 (3 a page)", len(areas), pages)
	}
	if areas[0].Start != 0 || areas[0].Length != 2*cbtBlock {
		t.Errorf("first area %d+%d, want 0+%d (adjacent blocks merged)", areas[0].Start, areas[0].Length, 2*cbtBlock)
	}
	// A start in the middle of an area clips it.
	res, err := methods.QueryChangedDiskAreas(e.ctx, e.c.Client, &types.QueryChangedDiskAreas{
		This: e.vm.Reference(), Snapshot: &s1, DeviceKey: disk.Key, StartOffset: cbtBlock + 512, ChangeId: c0})
	if err != nil {
		t.Fatal(err)
	}
	if a := res.Returnval.ChangedArea; len(a) == 0 || a[0].Start != cbtBlock+512 || a[0].Length != cbtBlock-512 {
		t.Errorf("answer from %d: %+v", cbtBlock+512, a)
	}
}

// TestChangedAreaFaults checks each fault QueryChangedDiskAreas gives.
func TestChangedAreaFaults(t *testing.T) {
	e := newCBTEnv(t, Options{})
	disk := e.disks()[0]
	key, capacity := disk.Key, disk.CapacityInBytes
	q := func(snap *types.ManagedObjectReference, key int32, start int64, id string) error {
		_, err := methods.QueryChangedDiskAreas(e.ctx, e.c.Client, &types.QueryChangedDiskAreas{
			This: e.vm.Reference(), Snapshot: snap, DeviceKey: key, StartOffset: start, ChangeId: id})
		return err
	}
	off := e.snapshot("cbt-off")
	if err := q(&off, key, 0, "*"); !isFileFault(err) {
		t.Errorf("CBT off: %v, want a FileFault", err)
	}
	e.removeSnapshot(off)

	e.setCBT(true)
	s1 := e.snapshot("one")
	c1 := e.snapshotBacking(s1, key).ChangeId
	uuid, seq, _ := parseChangeID(c1)
	var other types.ManagedObjectReference
	for _, sv := range e.v.VMs {
		if sv.Has("snapshots") {
			var m mo.VirtualMachine
			vm := object.NewVirtualMachine(e.c.Client, types.ManagedObjectReference{Type: "VirtualMachine", Value: sv.MoRef})
			if err := vm.Properties(e.ctx, vm.Reference(), []string{"snapshot"}, &m); err != nil {
				t.Fatal(err)
			}
			other = *m.Snapshot.CurrentSnapshot
		}
	}
	for _, c := range []struct {
		name  string
		snap  *types.ManagedObjectReference
		key   int32
		start int64
		id    string
		check func(error) bool
		want  string
	}{
		{"valid", &s1, key, 0, c1, func(err error) bool { return err == nil }, "no fault"},
		{"unknown disk", &s1, 9999, 0, "*", func(err error) bool { return isInvalidArgument(err, "deviceKey") }, "InvalidArgument deviceKey"},
		{"offset at the end", &s1, key, capacity, "*", func(err error) bool { return isInvalidArgument(err, "startOffset") }, "InvalidArgument startOffset"},
		{"negative offset", &s1, key, -1, "*", func(err error) bool { return isInvalidArgument(err, "startOffset") }, "InvalidArgument startOffset"},
		{"malformed changeId", &s1, key, 0, "yesterday", func(err error) bool { return isInvalidArgument(err, "changeId") }, "InvalidArgument changeId"},
		{"unknown uuid", &s1, key, 0, "52 00 00 00 00 00 00 00-00 00 00 00 00 00 00 00/1", isFileFault, "FileFault"},
		{"newer than the snapshot", &s1, key, 0, uuid + "/" + strconv.Itoa(seq+5), isFileFault, "FileFault"},
		{"another VM's snapshot", &other, key, 0, "*", func(err error) bool { return isInvalidArgument(err, "snapshot") }, "InvalidArgument snapshot"},
		{"no snapshot while running", nil, key, 0, "*", func(err error) bool { return isInvalidArgument(err, "snapshot") }, "InvalidArgument snapshot"},
	} {
		if err := q(c.snap, c.key, c.start, c.id); !c.check(err) {
			t.Errorf("%s: %v, want %s", c.name, err, c.want)
		}
	}
	e.removeSnapshot(s1)

	// Off and on again: tracking restarts under a new uuid and c1 is gone.
	e.setCBT(false)
	if id := e.backing(key).ChangeId; id != "" {
		t.Errorf("changeId %q with CBT off", id)
	}
	e.setCBT(true)
	s2 := e.snapshot("two")
	c2 := e.snapshotBacking(s2, key).ChangeId
	if u2, _, _ := parseChangeID(c2); u2 == uuid || c2 == "" {
		t.Errorf("changeId %q after CBT was reset, was %q: want a new uuid", c2, c1)
	}
	if err := q(&s2, key, 0, c1); !isFileFault(err) {
		t.Errorf("changeId from before the reset: %v, want a FileFault", err)
	}
	if err := q(&s2, key, 0, c2); err != nil {
		t.Errorf("the new changeId: %v", err)
	}
	e.removeSnapshot(s2)
}

// TestChangeIDsAdvanceAndReset follows a disk's changeId through power
// cycles, a snapshot and a disk that grows.
func TestChangeIDsAdvanceAndReset(t *testing.T) {
	e := newCBTEnv(t, Options{CBT: true})
	disks := e.disks()
	if len(disks) != 2 {
		t.Fatalf("%d persistent disks, want 2", len(disks))
	}
	nvme := disks[1]
	id0 := e.backing(nvme.Key).ChangeId
	u0, n0, ok := parseChangeID(id0)
	if !ok {
		t.Fatalf("Options.CBT: changeId %q at start", id0)
	}
	power := func(f func(context.Context) (*object.Task, error)) {
		task, err := f(e.ctx)
		if err == nil {
			err = task.Wait(e.ctx)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	power(e.vm.PowerOff)
	power(e.vm.PowerOn)
	u, n, _ := parseChangeID(e.backing(nvme.Key).ChangeId)
	if u != u0 || n != n0+2 {
		t.Errorf("after a power cycle changeId is %s/%d, want %s/%d", u, n, u0, n0+2)
	}
	// A disk with snapshots cannot grow.
	s := e.snapshot("s")
	grow := func(size int64) error {
		d := *nvme
		d.Backing = e.backing(nvme.Key)
		d.CapacityInBytes, d.CapacityInKB = size, size/1024
		return e.reconfigure(types.VirtualMachineConfigSpec{DeviceChange: []types.BaseVirtualDeviceConfigSpec{
			&types.VirtualDeviceConfigSpec{Operation: types.VirtualDeviceConfigSpecOperationEdit, Device: &d}}})
	}
	if err := grow(nvme.CapacityInBytes * 2); err == nil {
		t.Error("a disk with a snapshot grew")
	}
	e.removeSnapshot(s)
	before, _, _ := parseChangeID(e.backing(nvme.Key).ChangeId)
	if err := grow(nvme.CapacityInBytes * 2); err != nil {
		t.Fatal(err)
	}
	b := e.backing(nvme.Key)
	if u, _, _ := parseChangeID(b.ChangeId); u == before || u == "" {
		t.Errorf("changeId %q after the disk grew: want a new uuid", b.ChangeId)
	}
	for _, d := range e.disks() {
		if d.Key == nvme.Key && d.CapacityInBytes != nvme.CapacityInBytes*2 {
			t.Errorf("capacity %d after growing to %d", d.CapacityInBytes, nvme.CapacityInBytes*2)
		}
	}
	if got := guestView(t, e.v, b.FileName); int64(len(got)) != nvme.CapacityInBytes*2 {
		t.Errorf("the grown disk file reads %d bytes, want %d", len(got), nvme.CapacityInBytes*2)
	}
	// The first disk kept its uuid.
	if u, _, _ := parseChangeID(e.backing(disks[0].Key).ChangeId); u == "" || u == before {
		t.Errorf("first disk changeId %q", e.backing(disks[0].Key).ChangeId)
	}
}

// TestChurnStopsOnShutdown lets a powered-on VM churn, sees its writes in
// the changed areas and the chain, and sees none after a guest shutdown.
func TestChurnStopsOnShutdown(t *testing.T) {
	vmdk, initial := sparseGuest(t)
	e := newCBTEnv(t, Options{CBT: true, Churn: 4 << 20, GuestVMDK: vmdk})
	disk := e.disks()[0]
	key, capacity := disk.Key, disk.CapacityInBytes
	s1 := e.snapshot("round-1")
	c1 := e.snapshotBacking(s1, key).ChangeId
	used := map[int64]bool{}
	for b := int64(0); b*cbtBlock < int64(len(initial)); b++ {
		if !bytes.Equal(initial[b*cbtBlock:(b+1)*cbtBlock], make([]byte, cbtBlock)) {
			used[b] = true
		}
	}
	// Wait until the churn has written 40 blocks since round 1.
	var s2 types.ManagedObjectReference
	eventually(t, "churn writes", func() error {
		if s2.Value != "" {
			e.removeSnapshot(s2)
		}
		s2 = e.snapshot("round-2")
		areas, _, err := e.query(&s2, key, capacity, c1)
		if err != nil {
			t.Fatal(err)
		}
		if len(blocksOf(areas)) < 40 { // enough that a churn over the guest's data would hit it
			return errNotYet
		}
		for _, a := range areas {
			if a.Start%cbtBlock != 0 || a.Length%cbtBlock != 0 {
				t.Fatalf("area %d+%d is not whole 64 KiB blocks", a.Start, a.Length)
			}
		}
		for b := range blocksOf(areas) {
			if used[b] {
				t.Fatalf("the churn wrote block %d, which held the guest's data: it writes free space only", b)
			}
		}
		return nil
	})
	// The frozen chain reads cleanly (convert and qemu-img agree) and
	// stays as it was while the churn goes on into the delta.
	frozen := e.snapshotBacking(s2, key).FileName
	first := sum(guestView(t, e.v, frozen))
	time.Sleep(10 * churnTick) // ticks in which the churn writes
	if sum(guestView(t, e.v, frozen)) != first {
		t.Errorf("the frozen file %s changed while the snapshot existed", frozen)
	}
	e.removeSnapshot(s2)
	e.removeSnapshot(s1)

	if err := e.vm.ShutdownGuest(e.ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "power off", func() error {
		st, err := e.vm.PowerState(e.ctx)
		if err != nil || st != types.VirtualMachinePowerStatePoweredOff {
			return errNotYet
		}
		return nil
	})
	s3 := e.snapshot("off-1")
	c3 := e.snapshotBacking(s3, key).ChangeId
	e.removeSnapshot(s3)
	time.Sleep(10 * churnTick) // ticks in which a churn would have written
	s4 := e.snapshot("off-2")
	areas, _, err := e.query(&s4, key, capacity, c3)
	if err != nil {
		t.Fatal(err)
	}
	if len(areas) != 0 {
		t.Errorf("a shut down VM changed %d areas: %v", len(areas), areas)
	}
	if err := e.v.GuestWrite(e.name, key, 0, make([]byte, 512)); err == nil {
		t.Error("GuestWrite to a powered-off VM succeeded")
	}
}

func TestParseRate(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"4MiB/s", 4 << 20, true},
		{"512KiB/s", 512 << 10, true},
		{"1.5MB/s", 1500000, true},
		{"65536", 65536, true},
		{"2GiB", 2 << 30, true},
		{"fast", 0, false},
		{"-4MiB/s", 0, false},
	} {
		got, err := ParseRate(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("ParseRate(%q) = %d, %v; want %d (ok %v)", c.in, got, err, c.want, c.ok)
		}
	}
}

// TestNestedSnapshotsConsolidate removes the older of two snapshots first
// (its delta merges into the base and the newer delta is re-parented),
// then all the rest with RemoveAllSnapshots.
func TestNestedSnapshotsConsolidate(t *testing.T) {
	e := newCBTEnv(t, Options{CBT: true})
	disk := e.disks()[0]
	key := disk.Key
	base := e.backing(key).FileName
	g := &guest{data: make([]byte, disk.CapacityInBytes), rng: rand.New(rand.NewPCG(7, 8))}
	e.write(g, key, 1)
	s1 := e.snapshot("one")
	e.write(g, key, 2, 3)
	atS2 := append([]byte{}, g.data...)
	s2 := e.snapshot("two")
	d1 := e.snapshotBacking(s2, key).FileName // the file s2 froze: s1's delta
	e.write(g, key, 3, 4)
	s3 := e.snapshot("three")
	e.write(g, key, 5)

	e.removeSnapshot(s1)
	if fb := e.snapshotBacking(s2, key).FileName; fb != base {
		t.Errorf("after removing the older snapshot, the newer one froze %s, want the base %s", fb, base)
	}
	if local, _ := e.v.LocalPath(d1); fileExists(local) {
		t.Errorf("delta %s left behind", d1)
	}
	if got := guestView(t, e.v, base); sum(got) != sum(atS2) {
		t.Error("the base does not hold the second snapshot's data")
	}
	top := e.backing(key)
	if got := guestView(t, e.v, top.FileName); sum(got) != sum(g.data) {
		t.Error("the re-parented chain does not read as what the guest wrote")
	}
	n := 0
	for b := top; b != nil; b = b.Parent {
		n++
	}
	if n != 3 {
		t.Errorf("the disk's backing chain has %d files, want 3 (base and two deltas)", n)
	}
	_ = s3

	task, err := e.vm.RemoveAllSnapshot(e.ctx, nil)
	if err == nil {
		err = task.Wait(e.ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	if b := e.backing(key); b.FileName != base || b.Parent != nil {
		t.Errorf("after removing all snapshots the disk is %s (parent %v), want %s", b.FileName, b.Parent, base)
	}
	if got := guestView(t, e.v, base); sum(got) != sum(g.data) {
		t.Error("after removing all snapshots the base does not hold what the guest wrote")
	}
	dir, _ := e.v.LocalPath(base)
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(dir), "*-00000?.vmdk")); len(left) != 0 {
		t.Errorf("deltas left behind: %v", left)
	}
}
