package migrate

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/types"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podvm-migrate/podvm-migrate/convert"
	"github.com/podvm-migrate/podvm-migrate/disksource"
	"github.com/podvm-migrate/podvm-migrate/image"
	"github.com/podvm-migrate/podvm-migrate/internal/testtool/imagetest"
	"github.com/podvm-migrate/podvm-migrate/kubevirt"
	"github.com/podvm-migrate/podvm-migrate/plan"
	"github.com/podvm-migrate/podvm-migrate/reports"
	"github.com/podvm-migrate/podvm-migrate/runrecord"
	"github.com/podvm-migrate/podvm-migrate/testenv/kube"
	"github.com/podvm-migrate/podvm-migrate/testenv/registry"
	"github.com/podvm-migrate/podvm-migrate/testenv/testguest"
	"github.com/podvm-migrate/podvm-migrate/testenv/vcsim"
	"github.com/podvm-migrate/podvm-migrate/vsphere"
)

// warmEnv is the vCenter CBT double with the test guest as every first
// disk, planned, and the VMs warm tests migrate: one powered on, one off.
type warmEnv struct {
	*e2e
	sim  *vcsim.Simulator
	conn *vsphere.Conn
	stop func()          // stops the guest writer
	on   *plan.PlannedVM // powered on, BIOS, one disk
	off  *plan.PlannedVM // powered off
}

func newWarmEnv(t *testing.T, prefix string) *warmEnv {
	t.Helper()
	return newWarmEnvWith(t, prefix, newE2E(t), true)
}

// newWarmEnvWith serves the double for e (its runtime may be nil), with
// CBT on every VM or only on the simulator's "cbt" ones.
func newWarmEnvWith(t *testing.T, prefix string, e *e2e, cbt bool) *warmEnv {
	t.Helper()
	ctx := context.Background()
	dir := filepath.Join(e.dir, "vsphere")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	sim, cfg, conn := serveSimulator(t, vcsim.Options{VMs: 8, CBT: cbt, GuestVMDK: filepath.Join(e.guest, testguest.VMDK), Dir: dir, ChangedAreasPage: 3})
	inv, pl := planSimulator(ctx, t, cfg)
	w := &warmEnv{e2e: e, sim: sim, conn: conn}
	for i := range pl.VMs {
		vm := &pl.VMs[i]
		vm.Spec.Name = "mig-" + prefix + vm.Spec.Name
		vm.Spec.MemoryMiB = 256
		if vm.Status == plan.StatusBlocked || vm.Spec.Firmware.SecureBoot || len(vm.Spec.Disks) != 1 || len(inv.VMs[i].State.Snapshots) != 0 {
			continue
		}
		switch {
		case inv.VMs[i].State.Power == "poweredOn" && w.on == nil && vm.Spec.Firmware.Type != "efi":
			w.on = vm
		case inv.VMs[i].State.Power == "poweredOff" && w.off == nil:
			w.off = vm
		}
	}
	if w.on == nil || w.off == nil {
		t.Fatalf("no powered-on and powered-off pair of simple VMs among the simulator's: %+v", pl.Summary)
	}
	e.plan = pl
	return w
}

// guestWriter writes random 64 KiB blocks past the test guest's boot
// partition of vm's first disk while it runs, as a busy guest would, until
// stopped; the double refuses the writes once the VM is off. (The double's
// churn writes anywhere, boot files included, and the pod VM must boot.)
func (w *warmEnv) guestWriter(t *testing.T, vm *plan.PlannedVM) (stop func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	devs, err := object.NewVirtualMachine(w.conn.Client, types.ManagedObjectReference{Type: "VirtualMachine", Value: vm.Spec.Source.Moref}).Device(ctx)
	if err != nil {
		t.Fatal(err)
	}
	disks := devs.SelectByType((*types.VirtualDisk)(nil))
	if len(disks) == 0 {
		t.Fatalf("%s has no disk", vm.Name)
	}
	key := disks[0].GetVirtualDevice().Key
	var wg sync.WaitGroup
	n := 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 64<<10)
		for i := int64(0); ctx.Err() == nil; i++ {
			rand.Read(buf)
			// 40 to 64 MiB: behind the 32 MiB boot partition at 1 MiB.
			if err := w.sim.GuestWrite(vm.Spec.Source.Moref, key, (40<<20)+(i*7%384)*(64<<10), buf); err == nil {
				n++
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	var once sync.Once
	return func() int { once.Do(func() { cancel(); wg.Wait() }); return n }
}

// warmSnapshots lists the migration snapshots vm has in vSphere.
func (w *warmEnv) warmSnapshots(t *testing.T, vm *plan.PlannedVM) []vsphere.Snapshot {
	t.Helper()
	st, err := w.conn.VMWarmState(context.Background(), vm.Spec.Source.Moref)
	if err != nil {
		t.Fatal(err)
	}
	return st.Snapshots
}

// sourceChecksum reads vm's first disk from its datastore, as 'convert
// checksum "[datastore] path"' does.
func (w *warmEnv) sourceChecksum(t *testing.T, vm *plan.PlannedVM) string {
	t.Helper()
	ctx := context.Background()
	src, err := disksource.Parse(vm.Spec.Disks[0].Source)
	if err != nil {
		t.Fatal(err)
	}
	img, done, err := w.conn.Open(ctx, src, convert.SourceOptions{Datacenter: vm.Spec.Source.Datacenter})
	if err != nil {
		t.Fatal(err)
	}
	defer done()
	defer img.Close()
	st, err := convert.ChecksumImage(ctx, img, convert.CopyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return st.Checksum
}

func (w *warmEnv) runner(t *testing.T, runDir string, o WarmOptions, vms ...string) *Runner {
	t.Helper()
	o.Source = VSphereWarm{w.conn}
	if o.Interval == 0 {
		o.Interval = 300 * time.Millisecond
	}
	o.Poll, o.ShutdownGrace = 50*time.Millisecond, 5*time.Second
	disks := &DiskPipeline{Open: VSphereDatastore(w.conn, LocalFiles(w.dir, convert.PathPolicy{}), DatastoreOptions{})}
	target := &RuntimeTarget{Runtime: w.rt, Accel: "auto", Ready: 3 * time.Minute, WorkDir: filepath.Join(w.dir, "tmp")}
	r, err := NewRunner(w.plan, disks, target, Options{RunDir: runDir, Parallel: 2, VMs: vms, Warm: &o})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// precopies returns vm's precopy rounds in the run record, in order.
func precopies(t *testing.T, runDir, vm string) []runrecord.Event {
	t.Helper()
	events, err := runrecord.ReadJournal(runDir)
	if err != nil {
		t.Fatal(err)
	}
	var out []runrecord.Event
	for _, e := range events {
		if e.VM == vm && e.Phase == runrecord.PhasePrecopy && e.Result == runrecord.ResultDone {
			out = append(out, e)
		}
	}
	return out
}

// TestWarmMigration migrates a running VM warm while its guest writes,
// and a powered-off one cold in the same run: precopy rounds, a cutover,
// the pod VM ready, the migrated disk equal to the source after cutover,
// no snapshot left and the downtime in the report.
func TestWarmMigration(t *testing.T) {
	w := newWarmEnv(t, "w")
	ctx := context.Background()
	stop := w.guestWriter(t, w.on)
	runDir := filepath.Join(w.dir, "run")
	r := w.runner(t, runDir, WarmOptions{CutoverAfter: 3}, w.on.Spec.Name, w.off.Spec.Name)
	results, err := r.Run(ctx)
	r.Close()
	writes := stop()
	if err != nil {
		t.Fatalf("%v: %+v", err, results)
	}
	rounds := precopies(t, runDir, w.on.Spec.Name)
	if len(rounds) != 4 {
		t.Fatalf("%d precopy rounds of %s, want 3 and the final one: %+v", len(rounds), w.on.Spec.Name, rounds)
	}
	for i, e := range rounds {
		p := e.Precopy
		switch {
		case p.Round != i+1 || p.ChangeID == "" || p.Final != (i == 3):
			t.Errorf("round %d: %+v", i+1, p)
		case i == 0 && p.Since != "*":
			t.Errorf("the first round copied since %q, want a full copy (*)", p.Since)
		case i > 0 && p.Since != rounds[i-1].Precopy.ChangeID:
			t.Errorf("round %d copied since %q, want the change id of round %d, %q", i+1, p.Since, i, rounds[i-1].Precopy.ChangeID)
		}
	}
	for _, e := range rounds[:3] {
		if note := e.Attrs["leaves"]; !strings.Contains(note, "leaves hashed") || strings.Contains(note, "whole table") {
			t.Errorf("round %d's leaf digests: %q", e.Precopy.Round, note)
		}
	}
	if rounds[0].Bytes == 0 || writes == 0 {
		t.Errorf("the first round copied %d bytes, the guest wrote %d blocks", rounds[0].Bytes, writes)
	}
	// The migrated disk is the source as cutover left it.
	events, _ := runrecord.ReadJournal(runDir)
	var sum string
	cutovers := 0
	for _, e := range events {
		if e.VM == w.on.Spec.Name && e.Phase == runrecord.PhaseTransfer && e.Result == runrecord.ResultDone {
			sum = e.Transfer.Checksum
			// The rounds kept the leaf digests: the cutover read only the
			// leaves of the final round, not the whole disk.
			if how := e.Attrs["checksum"]; !strings.HasPrefix(how, "leaf table") {
				t.Errorf("the cutover's checksum: %q, want it from the leaf table", how)
			}
		}
		if e.Phase == runrecord.PhaseCutover && e.Result == runrecord.ResultDone {
			cutovers++
			if e.VM != w.on.Spec.Name || e.Cutover.Reason != "rounds" || e.Cutover.Shutdown == "" || e.Cutover.FinalTime <= 0 || e.Cutover.FinishTime <= 0 {
				t.Errorf("cutover %+v %+v", e, e.Cutover)
			}
		}
		if e.VM == w.off.Spec.Name && e.Phase == runrecord.PhasePrecopy && e.Result == runrecord.ResultSkipped && !strings.Contains(e.Attrs["note"], "poweredOff") {
			t.Errorf("the powered-off VM's note: %q", e.Attrs["note"])
		}
	}
	if cutovers != 1 {
		t.Errorf("%d cutovers, want 1", cutovers)
	}
	if src := w.sourceChecksum(t, w.on); sum == "" || sum != src {
		t.Errorf("migrated disk checksum %q, source after cutover %q", sum, src)
	}
	if got, _ := imagetest.MigratedDiskSum(ctx, runDir, w.on.Spec.Name); got != sum {
		t.Errorf("the disk in the pod VM's image has checksum %s, the record says %s", got, sum)
	}
	for _, vm := range []*plan.PlannedVM{w.on, w.off} {
		if pod, err := w.rt.Get(ctx, vm.Spec.Name); err != nil || !strings.HasPrefix(pod.ReadyLine, "PODVM-READY") {
			t.Errorf("%s: %+v %v", vm.Spec.Name, pod, err)
		}
	}
	if s := w.warmSnapshots(t, w.on); len(s) != 0 {
		t.Errorf("migration snapshots left on %s: %+v", w.on.Name, s)
	}
	rep, err := reports.Load(runDir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if ws := rep.Performance.Warm; len(ws) != 1 || ws[0].Name != w.on.Spec.Name || ws[0].Downtime <= 0 || len(ws[0].Rounds) != 4 {
		t.Errorf("report's warm migrations %+v: want %s with its downtime and 4 rounds", ws, w.on.Spec.Name)
	}
}

// TestWarmResumesAfterInterrupt stops a warm migration after its second
// round (as Ctrl-C does), checks that no snapshot is left, and resumes it
// from the recorded round and change id to cutover. The resumed run goes
// on with the leaf table the first one saved, or rebuilds it from the
// whole disk during its round when the disk was touched since.
func TestWarmResumesAfterInterrupt(t *testing.T) {
	for _, touch := range []bool{false, true} {
		t.Run(fmt.Sprintf("disk touched %v", touch), func(t *testing.T) { warmResume(t, touch) })
	}
}

func warmResume(t *testing.T, touch bool) {
	prefix := "r"
	if touch {
		prefix = "t"
	}
	w := newWarmEnv(t, prefix)
	stop := w.guestWriter(t, w.on)
	defer stop()
	runDir := filepath.Join(w.dir, "run")
	ctx, cancel := context.WithCancel(context.Background())
	r := w.runner(t, runDir, WarmOptions{AfterRound: func(_ string, round int) {
		if round == 2 {
			cancel()
		}
	}}, w.on.Spec.Name)
	if _, err := r.Run(ctx); err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("interrupted run: %v", err)
	}
	r.Close()
	if s := w.warmSnapshots(t, w.on); len(s) != 0 {
		t.Errorf("migration snapshots left after the interrupt: %+v", s)
	}
	before := precopies(t, runDir, w.on.Spec.Name)
	if len(before) != 2 {
		t.Fatalf("%d rounds before the interrupt, want 2", len(before))
	}
	if touch { // the disk's times move: its saved leaf table is no longer trusted
		dst := filepath.Join(runDir, "disks", w.on.Spec.Name, "disk0.qcow2")
		if err := os.Chtimes(dst, time.Now(), time.Now().Add(-time.Minute)); err != nil {
			t.Fatal(err)
		}
	}

	var seen []int
	// This time a request ('podvm-migrate cutover RUN_DIR VM') ends precopy.
	r = w.runner(t, runDir, WarmOptions{AfterRound: func(vm string, round int) {
		seen = append(seen, round)
		if err := RequestCutover(runDir, []string{vm}); err != nil {
			t.Error(err)
		}
	}}, w.on.Spec.Name)
	results, err := r.Run(context.Background())
	r.Close()
	if err != nil {
		t.Fatalf("resumed run: %v %+v", err, results)
	}
	if len(seen) != 1 || seen[0] != 3 {
		t.Errorf("the resumed run did rounds %v, want round 3 only (then the cutover)", seen)
	}
	events, _ := runrecord.ReadJournal(runDir)
	for _, e := range events {
		if e.Phase == runrecord.PhaseCutover && e.Result == runrecord.ResultDone && e.Cutover.Reason != "request" {
			t.Errorf("cutover for %q, want the request", e.Cutover.Reason)
		}
	}
	if _, err := os.Stat(filepath.Join(runDir, cutoverDir, w.on.Spec.Name)); !os.IsNotExist(err) {
		t.Errorf("the answered cutover request is still there: %v", err)
	}
	after := precopies(t, runDir, w.on.Spec.Name)[2:]
	if len(after) != 2 || after[0].Precopy.Since != before[1].Precopy.ChangeID || after[0].Precopy.Restart != "" {
		t.Errorf("resumed rounds %+v: want round 3 since %q, then the final one", after, before[1].Precopy.ChangeID)
	}
	// The resumed run trusted the leaf table the interrupted one saved,
	// unless the disk was touched since.
	if note := after[0].Attrs["leaves"]; !strings.Contains(note, "leaves hashed") || strings.Contains(note, "whole table") != touch {
		t.Errorf("round 3's leaf digests: %q, want the whole table rebuilt %v", note, touch)
	}
	for _, e := range events {
		if e.Phase == runrecord.PhaseTransfer && e.Result == runrecord.ResultDone && !strings.HasPrefix(e.Attrs["checksum"], "leaf table") {
			t.Errorf("the resumed cutover's checksum: %q, want it from the leaf table", e.Attrs["checksum"])
		}
	}
	if left, _ := filepath.Glob(filepath.Join(runDir, "disks", "*", "*.leaves")); len(left) != 0 {
		t.Errorf("leaf tables left after the cutover: %v", left)
	}
	got, err := imagetest.MigratedDiskSum(context.Background(), runDir, w.on.Spec.Name)
	if src := w.sourceChecksum(t, w.on); results[0].Status != "ready" || err != nil || got != src {
		t.Errorf("resumed VM %+v: migrated disk %s, %v; source after cutover %s", results[0], got, err, src)
	}
	if s := w.warmSnapshots(t, w.on); len(s) != 0 {
		t.Errorf("migration snapshots left: %+v", s)
	}
}

// TestWarmFailureRemovesSnapshots breaks the target between two rounds:
// the second round fails while its snapshot exists, the VM fails, its
// source keeps running and no migration snapshot is left.
func TestWarmFailureRemovesSnapshots(t *testing.T) {
	w := newWarmEnv(t, "f")
	runDir := filepath.Join(w.dir, "run")
	dst := filepath.Join(runDir, "disks", w.on.Spec.Name, "disk0.qcow2")
	r := w.runner(t, runDir, WarmOptions{CutoverAfter: 5, AfterRound: func(_ string, round int) {
		// A folder where the qcow2 was: it can neither be updated nor replaced.
		if err := os.Remove(dst); err != nil {
			t.Error(err)
		}
		if err := os.MkdirAll(filepath.Join(dst, "x"), 0o755); err != nil {
			t.Error(err)
		}
	}}, w.on.Spec.Name)
	results, err := r.Run(context.Background())
	r.Close()
	if err == nil || len(results) != 1 || results[0].Status != runrecord.ResultFailed || !strings.Contains(results[0].Error, "precopy") {
		t.Fatalf("run with a broken target: %v %+v", err, results)
	}
	t.Logf("failed as it should: %s", results[0].Error)
	if s := w.warmSnapshots(t, w.on); len(s) != 0 {
		t.Errorf("migration snapshots left after the failure: %+v", s)
	}
	if st, err := w.conn.PowerState(context.Background(), w.on.Spec.Source.Moref); err != nil || st != "poweredOn" {
		t.Errorf("source is %s, %v after a failed precopy; want it still running", st, err)
	}
}

// TestWarmToKubeVirt migrates a running VM warm to KubeVirt: nothing is
// applied to the cluster during precopy; at cutover the image is pushed
// and the VirtualMachine applied.
func TestWarmToKubeVirt(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	dir := t.TempDir()
	guest := filepath.Join(dir, "guest")
	if _, err := testguest.Build(ctx, testguest.Options{OutDir: guest}); err != nil {
		t.Fatal(err)
	}
	w := newWarmEnvWith(t, "k", &e2e{dir: dir, guest: guest}, true)
	kc := kube.StartForTest(t, kube.Options{})
	reg, err := registry.Start(ctx, filepath.Join(dir, "registry"))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Stop()
	client, err := kubevirt.NewClient(kc.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	go playVirtController(ctx, client, "default")
	noVerify := false
	target := &KubeVirtTarget{WorkDir: filepath.Join(dir, "tmp"), Client: client, Registry: reg.Addr + "/podvms", RegistryOpts: image.RegistryOptions{TLSVerify: &noVerify}}
	vms := client.KubeVirt.KubevirtV1().VirtualMachines("default")
	applied := -1 // the round during which a VirtualMachine existed
	o := WarmOptions{Source: VSphereWarm{w.conn}, Interval: 300 * time.Millisecond, Poll: 50 * time.Millisecond, ShutdownGrace: 5 * time.Second, CutoverAfter: 2,
		AfterRound: func(_ string, round int) {
			if l, err := vms.List(ctx, metav1.ListOptions{}); err == nil && len(l.Items) > 0 && applied < 0 {
				applied = round
			}
		}}
	stop := w.guestWriter(t, w.on)
	defer stop()
	runDir := filepath.Join(dir, "run")
	r, err := NewRunner(w.plan, &DiskPipeline{Open: VSphereDatastore(w.conn, LocalFiles(dir, convert.PathPolicy{}), DatastoreOptions{})}, target,
		Options{RunDir: runDir, VMs: []string{w.on.Spec.Name}, Warm: &o})
	if err != nil {
		t.Fatal(err)
	}
	results, err := r.Run(ctx)
	r.Close()
	if err != nil {
		t.Fatalf("%v: %+v", err, results)
	}
	if applied >= 0 {
		t.Errorf("a VirtualMachine was applied during precopy round %d, before the cutover", applied)
	}
	vm, err := vms.Get(ctx, w.on.Spec.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("no VirtualMachine after the cutover: %v", err)
	}
	if !strings.Contains(results[0].Image, reg.Addr) {
		t.Errorf("image %q was not pushed to the registry %s", results[0].Image, reg.Addr)
	}
	if n := len(precopies(t, runDir, w.on.Spec.Name)); n != 3 {
		t.Errorf("%d precopy rounds, want 2 and the final one", n)
	}
	if s := w.warmSnapshots(t, w.on); len(s) != 0 {
		t.Errorf("migration snapshots left: %+v", s)
	}
	t.Logf("VirtualMachine %s applied at cutover from %s", vm.Name, results[0].Image)
}

// progressFunc is a Progress that hands each event to a function.
type progressFunc func(runrecord.Event)

func (f progressFunc) Event(e runrecord.Event)          { f(e) }
func (progressFunc) Bytes(string, string, int64, int64) {}

// TestWarmWithoutCBT: a running VM without CBT goes cold with a note, or
// with --enable-cbt gets CBT switched on (the stun snapshot removed) and
// goes warm. Each run stops at its first copy: only the choice matters.
func TestWarmWithoutCBT(t *testing.T) {
	dir := t.TempDir()
	guest := filepath.Join(dir, "guest")
	if _, err := testguest.Build(context.Background(), testguest.Options{OutDir: guest}); err != nil {
		t.Fatal(err)
	}
	w := newWarmEnvWith(t, "c", &e2e{dir: dir, guest: guest}, false)
	if st, err := w.conn.VMWarmState(context.Background(), w.on.Spec.Source.Moref); err != nil || st.CBT {
		t.Fatalf("%s: %+v %v; want CBT off", w.on.Name, st, err)
	}
	for _, enable := range []bool{false, true} {
		ctx, cancel := context.WithCancel(context.Background())
		var notes []string
		copied := ""
		o := WarmOptions{Source: VSphereWarm{w.conn}, EnableCBT: enable, Interval: time.Hour}
		runDir := filepath.Join(dir, fmt.Sprintf("run-%v", enable))
		r, err := NewRunner(w.plan, &DiskPipeline{Open: VSphereDatastore(w.conn, LocalFiles(dir, convert.PathPolicy{}), DatastoreOptions{})}, nil,
			Options{RunDir: runDir, VMs: []string{w.on.Spec.Name}, Warm: &o, Progress: progressFunc(func(e runrecord.Event) {
				if n := e.Attrs["note"]; n != "" {
					notes = append(notes, n)
				}
				if (e.Phase == runrecord.PhaseTransfer || e.Phase == runrecord.PhasePrecopy) && e.Disk != "" && copied == "" {
					copied = e.Phase
					cancel()
				}
			})})
		if err != nil {
			t.Fatal(err)
		}
		r.Run(ctx)
		r.Close()
		cancel()
		st, err := w.conn.VMWarmState(context.Background(), w.on.Spec.Source.Moref)
		if err != nil {
			t.Fatal(err)
		}
		note := strings.Join(notes, "; ")
		switch {
		case !enable && (copied != runrecord.PhaseTransfer || !strings.Contains(note, "CBT is off") || st.CBT):
			t.Errorf("without --enable-cbt: first copy %q, notes %q, CBT %v; want a cold transfer, a note and CBT left off", copied, note, st.CBT)
		case enable && (copied != runrecord.PhasePrecopy || !strings.Contains(note, "CBT switched on") || !st.CBT):
			t.Errorf("with --enable-cbt: first copy %q, notes %q, CBT %v; want a precopy round after CBT was switched on", copied, note, st.CBT)
		}
		if len(st.Snapshots) != 0 {
			t.Errorf("enable %v: migration snapshots left: %+v", enable, st.Snapshots)
		}
	}
}
