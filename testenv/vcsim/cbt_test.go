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
	if _, err := e.vm.RemoveSnapshot(e.ctx, snap.Value, false, &consolidate); err != nil {
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

func faultOf(err error) types.BaseMethodFault {
	if err != nil && soap.IsSoapFault(err) {
		if f, ok := soap.ToSoapFault(err).VimFault().(types.BaseMethodFault); ok {
			return f
		}
	}
	return nil
}

func isFileFault(err error) bool {
	_, ok := faultOf(err).(*types.FileFault)
	return ok
}

func isInvalidArgument(err error, prop string) bool {
	f, ok := faultOf(err).(*types.InvalidArgument)
	return ok && f.InvalidProperty == prop
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
