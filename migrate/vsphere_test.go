package migrate

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/podvm-migrate/podvm-migrate/convert"
	"github.com/podvm-migrate/podvm-migrate/discover"
	"github.com/podvm-migrate/podvm-migrate/disksource"
	"github.com/podvm-migrate/podvm-migrate/image"
	"github.com/podvm-migrate/podvm-migrate/internal/testtool/imagetest"
	"github.com/podvm-migrate/podvm-migrate/plan"
	"github.com/podvm-migrate/podvm-migrate/runrecord"
	"github.com/podvm-migrate/podvm-migrate/testenv/testguest"
	"github.com/podvm-migrate/podvm-migrate/testenv/vcsim"
	"github.com/podvm-migrate/podvm-migrate/vsphere"
)

// startVSphere serves the simulator with VMs whose first disk is the test
// guest, and connects to it verifying its certificate.
func startVSphere(t *testing.T, e *e2e, vms int) (*vcsim.Simulator, vsphere.Config, *vsphere.Conn) {
	t.Helper()
	dir := filepath.Join(e.dir, "vsphere")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return serveSimulator(t, vcsim.Options{VMs: vms, GuestVMDK: filepath.Join(e.guest, testguest.VMDK), Dir: dir})
}

// serveSimulator starts the simulator with o, stopped when the test ends,
// and connects to it verifying its certificate.
func serveSimulator(t *testing.T, o vcsim.Options) (*vcsim.Simulator, vsphere.Config, *vsphere.Conn) {
	t.Helper()
	ctx := context.Background()
	sim, err := vcsim.Start(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	cfg := vsphere.Config{URL: sim.URL.String(), Username: sim.Username, Password: sim.Password, CACerts: sim.CACertFile}
	conn, err := vsphere.Connect(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Logout(context.Background()) })
	return sim, cfg, conn
}

// planSimulator discovers the simulator's VMs and plans them with defaults.
func planSimulator(ctx context.Context, t *testing.T, cfg vsphere.Config) (*discover.Inventory, *plan.Plan) {
	t.Helper()
	vms, err := vsphere.NewSource(cfg).Discover(ctx, discover.Options{})
	if err != nil {
		t.Fatal(err)
	}
	inv := discover.NewInventory()
	inv.VMs = vms
	pl, err := plan.NewPlan(inv, plan.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return inv, pl
}

func TestMigrateSimulatorVMs(t *testing.T) {
	e := newE2E(t)
	ctx := context.Background()
	sim, cfg, conn := startVSphere(t, e, 8)

	_, pl := planSimulator(ctx, t, cfg)
	// Migrate three VMs that are not blocked. Not secure-boot ones: the test
	// guest's boot loader is unsigned, so OVMF rightly refuses it there.
	var pick []string
	for _, vm := range pl.VMs {
		if vm.Status != plan.StatusBlocked && !vm.Spec.Firmware.SecureBoot && len(pick) < 3 {
			pick = append(pick, vm.Spec.Name)
		}
	}
	if len(pick) < 2 {
		t.Fatalf("only %d simulator VMs are migratable: %+v", len(pick), pl.Summary)
	}
	for i := range pl.VMs {
		pl.VMs[i].Spec.Name = "mig-" + pl.VMs[i].Spec.Name // the cleanup's prefix
		pl.VMs[i].Spec.MemoryMiB = 256
	}
	for i := range pick {
		pick[i] = "mig-" + pick[i]
	}
	e.plan = pl
	runDir := filepath.Join(e.dir, "run")
	disks := &DiskPipeline{Open: VSphereDatastore(conn, LocalFiles(e.dir, convert.PathPolicy{}), DatastoreOptions{}), LayerHash: true}
	target := &RuntimeTarget{Runtime: e.rt, Accel: "auto", Ready: 3 * time.Minute, WorkDir: filepath.Join(e.dir, "tmp")}
	r, err := NewRunner(pl, disks, target, Options{RunDir: runDir, Parallel: 2, VMs: pick, Quiesce: PowerOffSource(conn, 10*time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	results, err := r.Run(ctx)
	if err != nil {
		t.Fatalf("%v: %+v", err, results)
	}
	want, _ := convert.Checksum(ctx, filepath.Join(e.guest, testguest.Raw), convert.FormatRaw, "", 0)
	for _, res := range results {
		pod, err := e.rt.Get(ctx, res.VM)
		if err != nil || !strings.HasPrefix(pod.ReadyLine, "PODVM-READY") {
			t.Errorf("%s: %+v %v", res.VM, pod, err)
		}
		got, _ := imagetest.MigratedDiskSum(ctx, runDir, res.VM)
		if got != want {
			t.Errorf("%s: boot disk checksum %s, want the guest's %s", res.VM, got, want)
		}
		// Range reads of the datastore map the disk ahead: its layer
		// digest was computed during the transfer.
		if sha := bootDiskSHA256(ctx, t, runDir, res.VM); sha != "" {
			t.Errorf("%s: the image records disk sha256 %s: the layer was hashed again after the transfer", res.VM, sha)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(runDir, "*", "*.vmdk")); len(left) != 0 {
		t.Errorf("local copies of source disks: %v", left)
	}
	// The sources were shut down before their disks were read.
	for _, res := range results {
		pv, _ := pl.VM(res.VM)
		state, err := conn.PowerState(ctx, pv.Spec.Source.Moref)
		if err != nil || state != discover.PoweredOff {
			t.Errorf("source of %s is %s, %v; want poweredOff", res.VM, state, err)
		}
	}
	events, _ := runrecord.ReadJournal(runDir)
	quiesced := 0
	for _, ev := range events {
		if ev.Phase == runrecord.PhaseQuiesce && ev.Result == runrecord.ResultDone {
			quiesced++
		}
	}
	if quiesced != len(pick) {
		t.Errorf("%d quiesce events, want %d", quiesced, len(pick))
	}
	t.Logf("migrated %v from %s", pick, sim.URL)
}

func TestMigrateThroughExportVmLeases(t *testing.T) {
	e := newE2E(t)
	ctx := context.Background()
	_, cfg, conn := startVSphere(t, e, 8)
	inv, pl := planSimulator(ctx, t, cfg)
	// One powered-on and one powered-off VM, neither secure boot nor blocked.
	var pick []string
	var on *plan.PlannedVM
	for i := range pl.VMs {
		vm := &pl.VMs[i]
		vm.Spec.Name = "mig-x" + vm.Spec.Name
		vm.Spec.MemoryMiB = 256
		if vm.Status == plan.StatusBlocked || vm.Spec.Firmware.SecureBoot || len(pick) == 2 {
			continue
		}
		powered := inv.VMs[i].State.Power == discover.PoweredOn
		if (on == nil && powered) || (len(pick) == 1 && on != nil && !powered) || (len(pick) == 0 && !powered && on == nil) {
			pick = append(pick, vm.Spec.Name)
			if powered {
				on = vm
			}
		}
	}
	if len(pick) != 2 || on == nil {
		t.Fatalf("no powered-on plus powered-off pair among the simulator VMs: %v", pick)
	}

	// ExportVm refuses a VM that runs, with a message that says what to do.
	open := VSphereExport(conn, LocalFiles(e.dir, convert.PathPolicy{}))
	if _, _, err := open(ctx, on, on.Spec.Disks[0]); err == nil || !strings.Contains(err.Error(), "--source-power-off") {
		t.Fatalf("exporting a running VM: %v", err)
	}

	runDir := filepath.Join(e.dir, "run")
	disks := &DiskPipeline{Open: open, LayerHash: true}
	target := &RuntimeTarget{Runtime: e.rt, Accel: "auto", Ready: 3 * time.Minute, WorkDir: filepath.Join(e.dir, "tmp")}
	r, err := NewRunner(pl, disks, target, Options{RunDir: runDir, VMs: pick, Quiesce: PowerOffSource(conn, 10*time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	results, err := r.Run(ctx)
	r.Close()
	if err != nil {
		t.Fatalf("%v: %+v", err, results)
	}
	want, _ := convert.Checksum(ctx, filepath.Join(e.guest, testguest.Raw), convert.FormatRaw, "", 0)
	for _, res := range results {
		got, _ := imagetest.MigratedDiskSum(ctx, runDir, res.VM)
		if got != want {
			t.Errorf("%s: boot disk read through the export lease has checksum %s, want %s", res.VM, got, want)
		}
		if pod, err := e.rt.Get(ctx, res.VM); err != nil || !strings.HasPrefix(pod.ReadyLine, "PODVM-READY") {
			t.Errorf("%s: %+v %v", res.VM, pod, err)
		}
		// A stream cannot be mapped ahead: packaging hashed the disk.
		if sha := bootDiskSHA256(ctx, t, runDir, res.VM); sha == "" {
			t.Errorf("%s: a streamed disk records no sha256 of its own", res.VM)
		}
	}
	// The disks came as NFC serves them: streamOptimized, read front to back.
	events, _ := runrecord.ReadJournal(runDir)
	streamed := 0
	for _, ev := range events {
		if ev.Phase == runrecord.PhaseTransfer && ev.Result == runrecord.ResultDone && ev.Disk == "disk0" {
			if ev.Transfer == nil || ev.Transfer.SourceFormat != "vmdk/streamOptimized" {
				t.Errorf("%s disk0 was read as %+v, not through the export lease", ev.VM, ev.Transfer)
			}
			streamed++
		}
	}
	if streamed != 2 {
		t.Errorf("%d boot disks transferred, want 2", streamed)
	}
}

// bootDiskSHA256 is the digest vm's image records for its boot disk: empty
// when the layer digest, computed during the transfer, checks it.
func bootDiskSHA256(ctx context.Context, t *testing.T, runDir, vm string) string {
	t.Helper()
	info, err := image.Inspect(ctx, (&RuntimeTarget{}).ImageRef(runDir, vm), image.RegistryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return info.Disks[0].SHA256
}

// TestDatastoreReadsOnlyAllocatedAreas: a flat disk read over the
// datastore's HTTP access has no map of its own, so changed block
// tracking's "*" areas say what to read, for a powered-off VM; anything
// that makes the answer doubtful reads every block, and the record says
// why.
func TestDatastoreReadsOnlyAllocatedAreas(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	// No guest VMDK: the simulator's disks are flat (vmfs) extents.
	sim, cfg, conn := serveSimulator(t, vcsim.Options{VMs: 8, CBT: true, Dir: dir})
	inv, pl := planSimulator(ctx, t, cfg)
	var vm, running *plan.PlannedVM
	for i := range pl.VMs {
		if inv.VMs[i].State.Power != discover.PoweredOn || len(pl.VMs[i].Spec.Disks) == 0 {
			continue
		}
		switch {
		case vm == nil && len(inv.VMs[i].State.Snapshots) == 0:
			vm = &pl.VMs[i]
		case running == nil:
			running = &pl.VMs[i]
		}
	}
	if vm == nil || running == nil {
		t.Fatalf("the simulator has no two powered-on VMs, one without snapshots: %+v", pl.Summary)
	}
	d := vm.Spec.Disks[0]
	_, current, err := conn.CurrentDisks(ctx, vm.Spec.Source.Moref)
	if err != nil || len(current) == 0 || current[0].File != d.Source {
		t.Fatalf("the VM's disks now: %+v, %v; want %s first", current, err, d.Source)
	}
	// What the guest wrote while it ran: three places, 1.125 MiB.
	writes := map[int64]int{1 << 20: 64 << 10, 9<<20 + 4096: 64 << 10, 40 << 20: 1 << 20}
	for off, n := range writes {
		if err := sim.GuestWrite(vm.Spec.Source.Moref, current[0].Key, off, bytes.Repeat([]byte{0xa5}, n)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conn.PowerOff(ctx, vm.Spec.Source.Moref, time.Second); err != nil {
		t.Fatal(err)
	}
	// The reference: the disk read whole, as 'convert checksum' does.
	src, _ := disksource.Parse(d.Source)
	full, done, err := conn.Open(ctx, src, convert.SourceOptions{Datacenter: vm.Spec.Source.Datacenter})
	if err != nil {
		t.Fatal(err)
	}
	want, err := convert.ChecksumImage(ctx, full, convert.CopyOptions{})
	full.Close()
	done()
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name     string
		vm       *plan.PlannedVM
		o        DatastoreOptions
		note     string
		fullRead bool
	}{
		{"powered off, CBT on", vm, DatastoreOptions{}, "changed block tracking: ", false},
		{"full read asked for", vm, DatastoreOptions{FullRead: true}, "every block read (--full-read)", true},
		{"source running", running, DatastoreOptions{}, "every block read: the source VM is poweredOn", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// LayerHash: the copy is planned, from the restricted map.
			p := &DiskPipeline{Open: VSphereDatastore(conn, LocalFiles(dir, convert.PathPolicy{}), tc.o), LayerHash: true}
			dst := filepath.Join(t.TempDir(), "disk0.qcow2")
			tr, err := p.Transfer(ctx, tc.vm, tc.vm.Spec.Disks[0], dst, nil)
			if err != nil {
				t.Fatal(err)
			}
			// The planned qcow2 keeps a cluster for each one the map says
			// holds data: a disk read whole is laid out whole.
			if st, err := os.Stat(dst); err != nil || tc.fullRead != (st.Size() >= tr.VirtualBytes) {
				t.Errorf("qcow2 of %v bytes for a disk of %d", st, tr.VirtualBytes)
			}
			if !strings.HasPrefix(tr.SourceMap, tc.note) {
				t.Errorf("source map %q, want %q…", tr.SourceMap, tc.note)
			}
			if tc.fullRead && tr.ReadBytes != tr.VirtualBytes {
				t.Errorf("read %d of %d bytes, want every block", tr.ReadBytes, tr.VirtualBytes)
			}
			if !tc.fullRead && (tr.ReadBytes > 2<<20 || tr.ReadBytes < 1<<20) {
				t.Errorf("read %d of %d bytes, want about the 1.125 MiB written", tr.ReadBytes, tr.VirtualBytes)
			}
			if tc.vm == vm && tr.Checksum != want.Checksum {
				t.Errorf("checksum %s, want the whole disk's %s", tr.Checksum, want.Checksum)
			}
		})
	}
}
