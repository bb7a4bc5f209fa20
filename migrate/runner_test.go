package migrate

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/podvm-migrate/podvm-migrate/convert"
	"github.com/podvm-migrate/podvm-migrate/discover"
	"github.com/podvm-migrate/podvm-migrate/image"
	"github.com/podvm-migrate/podvm-migrate/internal/testtool"
	"github.com/podvm-migrate/podvm-migrate/internal/testtool/imagetest"
	"github.com/podvm-migrate/podvm-migrate/plan"
	"github.com/podvm-migrate/podvm-migrate/runrecord"
	"github.com/podvm-migrate/podvm-migrate/runtime"
	"github.com/podvm-migrate/podvm-migrate/testenv/libvirtd"
	"github.com/podvm-migrate/podvm-migrate/testenv/testguest"
)

// e2e is a real environment: the test guest's disks as source VMs,
// libvirtd, and the runtime with its state in a folder libvirt-qemu reads.
type e2e struct {
	dir, guest string
	rt         *runtime.Runtime
	plan       *plan.Plan
}

func newE2E(t *testing.T) *e2e {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("migrating to the runtime starts libvirtd for qemu:///system and needs root")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := libvirtd.Ensure(ctx, ""); err != nil {
		t.Fatal(err)
	}
	dir := testtool.LibvirtDir(t, "podvm-migrate-e2e-")
	e := &e2e{dir: dir, guest: filepath.Join(dir, "guest")}
	if _, err := testguest.Build(ctx, testguest.Options{OutDir: e.guest}); err != nil {
		t.Fatal(err)
	}
	var err error
	e.rt, err = runtime.New(ctx, runtime.WithStateDir(filepath.Join(dir, "state")),
		runtime.WithProbeGuest(filepath.Join(e.guest, testguest.Vmlinuz), filepath.Join(e.guest, testguest.Initrd)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if pods, err := e.rt.List(context.Background()); err == nil {
			for _, p := range pods {
				if strings.HasPrefix(p.Name, "mig-") {
					_ = e.rt.Remove(context.Background(), p.Name, true)
				}
			}
		}
		e.rt.Close()
	})

	// A broken disk: the sparse VMDK cut short, so its grains point past the end.
	b, err := os.ReadFile(filepath.Join(e.guest, testguest.VMDK))
	if err != nil {
		t.Fatal(err)
	}
	broken := filepath.Join(dir, "broken.vmdk")
	if err := os.WriteFile(broken, b[:len(b)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	vm := func(name, disk string, mac string) discover.VM {
		return discover.VM{Name: name, Source: discover.SourceRef{Kind: discover.SourceVMX, Path: filepath.Join(dir, name+".vmx")},
			Guest: discover.Guest{GuestID: "debian12_64Guest"},
			Hardware: discover.Hardware{Firmware: discover.FirmwareBIOS, CPUs: 1, CoresPerSocket: 1, MemoryMiB: 256,
				Disks: []discover.Disk{{Controller: "scsi0", CapacityBytes: 64 << 20, File: disk}},
				NICs:  []discover.NIC{{Model: "vmxnet3", MAC: mac, Network: "VM Network", StartConnected: true}}}}
	}
	inv := discover.NewInventory()
	inv.VMs = []discover.VM{
		vm("mig-sparse", filepath.Join(e.guest, testguest.VMDK), "00:50:56:00:01:01"),
		vm("mig-stream", filepath.Join(e.guest, testguest.Stream), "00:50:56:00:01:02"),
		vm("mig-raw", filepath.Join(e.guest, testguest.Raw), "00:50:56:00:01:03"),
		vm("mig-broken", broken, "00:50:56:00:01:04"),
	}
	if e.plan, err = plan.NewPlan(inv, plan.Options{}); err != nil {
		t.Fatal(err)
	}
	return e
}

// run migrates e.plan in runDir with the real runtime stages, and releases
// the run directory when done.
func (e *e2e) run(ctx context.Context, t *testing.T, runDir string) ([]VMResult, error) {
	t.Helper()
	return e.runTarget(ctx, t, runDir, func(rt *RuntimeTarget) Target { return rt })
}

// runTarget is run with the runtime target changed (or wrapped) by with.
func (e *e2e) runTarget(ctx context.Context, t *testing.T, runDir string, with func(*RuntimeTarget) Target) ([]VMResult, error) {
	t.Helper()
	disks := &DiskPipeline{Open: LocalFiles(e.dir, convert.PathPolicy{}), LayerHash: true} // as migration.go sets it for the runtime
	target := with(&RuntimeTarget{Runtime: e.rt, Accel: "auto", Ready: 3 * time.Minute, WorkDir: filepath.Join(e.dir, "tmp")})
	r, err := NewRunner(e.plan, disks, target, Options{RunDir: runDir, Parallel: 2, Retries: 3, Backoff: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	return r.Run(ctx)
}

// runInterrupted runs the migration and interrupts it, as Ctrl-C does, as
// soon as the run record shows a step of phase started by this run.
func (e *e2e) runInterrupted(t *testing.T, runDir, phase string) error {
	t.Helper()
	before, _ := runrecord.ReadJournal(runDir) // none before the first run
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			events, _ := runrecord.ReadJournal(runDir)
			for _, ev := range events[min(len(before), len(events)):] {
				if ev.Phase == phase && ev.Result == runrecord.ResultStarted {
					cancel()
					return
				}
			}
		}
	}()
	_, err := e.run(ctx, t, runDir)
	return err
}

func TestMigrateToRunningPodVMs(t *testing.T) {
	e := newE2E(t)
	ctx := context.Background()
	runDir := filepath.Join(e.dir, "run")
	results, err := e.run(ctx, t, runDir)
	if err == nil || !strings.Contains(err.Error(), "1 of 4 VMs failed: mig-broken") {
		t.Fatalf("run error %v; want only mig-broken to fail: %+v", err, results)
	}
	for _, r := range results {
		switch r.VM {
		case "mig-broken":
			if r.Status != runrecord.ResultFailed || !strings.Contains(r.Error, "broken.vmdk") {
				t.Errorf("broken VM: %+v; want a failure naming its file", r)
			}
		default:
			if r.Status != "ready" || r.Accel == "" {
				t.Errorf("%s: %+v", r.VM, r)
			}
			pod, err := e.rt.Get(ctx, r.VM)
			if err != nil || pod.State != runtime.StateRunning || !strings.HasPrefix(pod.ReadyLine, "PODVM-READY") {
				t.Errorf("%s is not a running, ready pod VM: %+v, %v", r.VM, pod, err)
			}
		}
	}
	// The converted disks hold exactly the guest-visible bytes of the sources.
	want, err := convert.Checksum(ctx, filepath.Join(e.guest, testguest.Raw), convert.FormatRaw, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, vm := range []string{"mig-sparse", "mig-stream", "mig-raw"} {
		got, err := imagetest.MigratedDiskSum(ctx, runDir, vm)
		if err != nil || got != want {
			t.Errorf("%s disk checksum %s, %v; want %s", vm, got, err, want)
		}
		// Its layer digest was computed while the disk was transferred
		// (the source files can be mapped ahead): the image records no
		// separate disk digest, and the blob hashes to the layer digest.
		info, l, err := image.OpenLocalLayer(ctx, (&RuntimeTarget{}).ImageRef(runDir, vm), image.RegistryOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if info.Disks[0].SHA256 != "" {
			t.Errorf("%s: the layer digest was not taken from the transfer (disk sha256 %s)", vm, info.Disks[0].SHA256)
		}
		if err := l.Verify(ctx, info); err != nil {
			t.Errorf("%s: %v", vm, err)
		}
	}
	events, err := runrecord.ReadJournal(runDir)
	if err != nil {
		t.Fatal(err)
	}
	phases := map[string]int{}
	for _, ev := range events {
		if ev.Result == runrecord.ResultDone {
			phases[ev.Phase]++
		}
	}
	if phases[runrecord.PhaseTransfer] != 3 || phases[runrecord.PhasePackage] != 3 || phases[runrecord.PhaseBoot] != 3 || phases[runrecord.PhaseReady] != 3 {
		t.Errorf("journal phases done: %v", phases)
	}

	// A rerun verifies and skips everything that is done, and retries only
	// the broken VM, which fails again the same way.
	results, err = e.run(ctx, t, runDir)
	if err == nil || len(results) != 4 {
		t.Fatalf("rerun: %v", err)
	}
	events, _ = runrecord.ReadJournal(runDir)
	skipped := 0
	for _, ev := range events[len(events)-20:] {
		if ev.Result == runrecord.ResultSkipped {
			skipped++
		}
	}
	if skipped != 9 { // 3 VMs: transfer, package, ready
		t.Errorf("rerun skipped %d steps, want 9", skipped)
	}
	// A pod VM left running as it was still says where it runs.
	for _, r := range results {
		if r.Status == "ready" && r.Accel == "" {
			t.Errorf("rerun: %s is ready with no accelerator: %+v", r.VM, r)
		}
	}
}

func TestMigrateResumesAfterInterruption(t *testing.T) {
	e := newE2E(t)
	e.plan.VMs = e.plan.VMs[:3] // the good ones
	runDir := filepath.Join(e.dir, "run")
	// Interrupt the run at a point that moves with every attempt, as
	// Ctrl-C does: when the run has started its first transfer, its first
	// package, its first boot. The points come from the run record, not
	// from the clock, so they do not move with the machine's speed; a
	// boot lasts until the guest's readiness line, so the last interruption
	// lands while work is under way if the others did not.
	for _, phase := range []string{runrecord.PhaseTransfer, runrecord.PhasePackage, runrecord.PhaseBoot} {
		err := e.runInterrupted(t, runDir, phase)
		if err == nil {
			break
		}
		if !strings.Contains(err.Error(), "rerun the same command") {
			t.Fatalf("interrupted at the first %s: %v", phase, err)
		}
	}
	// No half-written file under a final name: every disk present verifies.
	want, _ := convert.Checksum(context.Background(), filepath.Join(e.guest, testguest.Raw), convert.FormatRaw, "", 0)
	disks, _ := filepath.Glob(filepath.Join(runDir, "disks", "*", "*.qcow2"))
	for _, d := range disks {
		if got, err := convert.Checksum(context.Background(), d, convert.FormatQCOW2, "", 0); err != nil || got != want {
			t.Errorf("after interruption %s: %s, %v", d, got, err)
		}
	}
	// The interruption landed while work was under way, and some steps were done.
	before, _ := runrecord.ReadJournal(runDir)
	open, done := map[string]bool{}, map[string]bool{}
	for _, ev := range before {
		k := key(ev.VM, ev.Disk, ev.Phase)
		switch ev.Result {
		case runrecord.ResultStarted:
			open[k] = true
		case runrecord.ResultDone:
			delete(open, k)
			done[k] = true
		}
	}
	if len(open) == 0 {
		t.Fatalf("no interruption landed while a step was under way")
	}
	results, err := e.run(context.Background(), t, runDir)
	if err != nil {
		t.Fatalf("resumed run: %v: %+v", err, results)
	}
	after, _ := runrecord.ReadJournal(runDir)
	skipped := 0
	redone := map[string]bool{}
	for _, ev := range after[len(before):] {
		k := key(ev.VM, ev.Disk, ev.Phase)
		if ev.Result == runrecord.ResultSkipped && done[k] {
			skipped++
		}
		if ev.Result == runrecord.ResultStarted && done[k] {
			redone[fmt.Sprintf("%s/%s/%s", ev.VM, ev.Disk, ev.Phase)] = true
		}
	}
	// A package interrupted after it took the disk in place gives the
	// file back best effort (image's adoption.giveBack): when it cannot,
	// the disk is copied again, so such a VM's transfer may be redone.
	mayRedo := 0
	for _, ev := range before {
		if ev.Phase == runrecord.PhasePackage && ev.Result == runrecord.ResultInterrupted && redone[fmt.Sprintf("%s/%s/%s", ev.VM, "disk0", runrecord.PhaseTransfer)] {
			mayRedo++
		}
	}
	if doneSteps := countPhases(done, runrecord.PhaseTransfer, runrecord.PhasePackage); skipped+mayRedo < doneSteps {
		var journal []string
		for _, ev := range after {
			journal = append(journal, fmt.Sprintf("%s/%s/%s %s %s", ev.VM, ev.Disk, ev.Phase, ev.Result, ev.Error))
		}
		t.Errorf("the resumed run skipped %d of the %d transfers and packages done before; redone: %v\njournal:\n%s",
			skipped, doneSteps, redone, strings.Join(journal, "\n"))
	}
	for _, r := range results {
		if r.Status != "ready" {
			t.Errorf("%+v", r)
		}
		got, err := imagetest.MigratedDiskSum(context.Background(), runDir, r.VM)
		if err != nil || got != want {
			t.Errorf("%s after resume: checksum %s, %v; want %s", r.VM, got, err, want)
		}
	}
}

// countPhases counts the keys of the given phases.
func countPhases(keys map[string]bool, phases ...string) int {
	n := 0
	for k := range keys {
		for _, p := range phases {
			if strings.HasSuffix(k, "\x00"+p) {
				n++
			}
		}
	}
	return n
}
