package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/podvm-migrate/podvm-migrate/internal/testtool"
	"github.com/podvm-migrate/podvm-migrate/plan"
	"github.com/podvm-migrate/podvm-migrate/reports"
	"github.com/podvm-migrate/podvm-migrate/runrecord"
	"github.com/podvm-migrate/podvm-migrate/runtime"
	"github.com/podvm-migrate/podvm-migrate/testenv/libvirtd"
	"github.com/podvm-migrate/podvm-migrate/testenv/testguest"
	"github.com/podvm-migrate/podvm-migrate/testenv/vcsim"
	"github.com/podvm-migrate/podvm-migrate/vsphere"
)

// TestWarmMigrateSurvivesKill runs 'migrate --warm' as a process on the
// CBT double, kills it with SIGKILL once two precopy rounds are recorded,
// and reruns it: the rerun continues from the recorded round and change
// id, cuts over, leaves no snapshot, and 'convert checksum' of the source
// disk equals the checksum recorded for the migrated disk.
func TestWarmMigrateSurvivesKill(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("migrating to the runtime starts libvirtd for qemu:///system and needs root")
	}
	ctx := context.Background()
	if _, err := libvirtd.Ensure(ctx, ""); err != nil {
		t.Fatal(err)
	}
	dir := testtool.LibvirtDir(t, "podvm-migrate-warmkill-")
	guest := filepath.Join(dir, "guest")
	if _, err := testguest.Build(ctx, testguest.Options{OutDir: guest}); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "vsphere"), 0o755); err != nil {
		t.Fatal(err)
	}
	sim, err := vcsim.Start(ctx, vcsim.Options{VMs: 7, CBT: true, GuestVMDK: filepath.Join(guest, testguest.VMDK), Dir: filepath.Join(dir, "vsphere")})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	for _, kv := range sim.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	state := filepath.Join(dir, "state")
	rt, err := runtime.New(ctx, runtime.WithStateDir(state))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		pods, _ := rt.List(context.Background())
		for _, p := range pods {
			if strings.HasPrefix(p.Name, "warmkill-") {
				rt.Remove(context.Background(), p.Name, true)
			}
		}
		rt.Close()
	}()

	inv, planFile := filepath.Join(dir, "inv.json"), filepath.Join(dir, "plan.json")
	if _, stderr, code := execute(t, "discover", "--out", inv); code != exitOK {
		t.Fatalf("discover: %d %s", code, stderr)
	}
	if _, stderr, code := execute(t, "plan", inv, "--out", planFile); code != exitOK && code != exitBlocked {
		t.Fatalf("plan: %d %s", code, stderr)
	}
	// A powered-on BIOS VM with one disk; pod VM names the cleanup finds.
	data, err := os.ReadFile(planFile)
	if err != nil {
		t.Fatal(err)
	}
	pl, err := plan.UnmarshalPlan(data)
	if err != nil {
		t.Fatal(err)
	}
	var vm *plan.PlannedVM
	for i := range pl.VMs {
		v := &pl.VMs[i]
		v.Spec.Name, v.Spec.MemoryMiB = "warmkill-"+v.Spec.Name, 256
		var sv vcsim.VM
		for _, s := range sim.VMs {
			if s.Name == v.Name {
				sv = s
			}
		}
		if vm == nil && v.Status != plan.StatusBlocked && v.Spec.Firmware.Type != "efi" && len(v.Spec.Disks) == 1 && sv.PowerState == "poweredOn" && !sv.Has("snapshots") {
			vm = v
		}
	}
	if vm == nil {
		t.Fatal("no powered-on BIOS VM with one disk in the simulator's plan")
	}
	if data, err = json.Marshal(pl); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(planFile, data, 0o644); err != nil {
		t.Fatal(err)
	}
	conn, err := vsphere.Connect(ctx, vsphere.Config{URL: sim.URL.String(), Username: sim.Username, Password: sim.Password, CACerts: sim.CACertFile})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Logout(context.Background())
	stopWrites := guestWrites(t, sim, conn, vm.Spec.Source.Moref)
	defer stopWrites()

	runDir := filepath.Join(dir, "run")
	args := []string{"migrate", planFile, "--vm", vm.Name, "--run-dir", runDir, "--state-dir", state, "-o", "json",
		"--warm", "--precopy-interval", "500ms"}
	cmd := command(ctx, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.After(2 * time.Minute)
	for len(warmRounds(t, runDir, vm.Spec.Name)) < 2 {
		select {
		case err := <-done:
			t.Fatalf("migrate --warm ended before its second round: %v", err)
		case <-deadline:
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			t.Fatal("no second precopy round within 2 minutes")
		case <-time.After(50 * time.Millisecond):
		}
	}
	// Kill it in the middle of a round when we catch one, so that its
	// snapshot is left behind for the rerun to remove.
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(2 * time.Millisecond) {
		if st, err := conn.VMWarmState(ctx, vm.Spec.Source.Moref); err == nil && len(st.Snapshots) > 0 {
			break
		}
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-done
	before := warmRounds(t, runDir, vm.Spec.Name)
	last := before[len(before)-1].Precopy
	st, _ := conn.VMWarmState(ctx, vm.Spec.Source.Moref)
	t.Logf("killed after round %d; %d migration snapshots left behind", last.Round, len(st.Snapshots))
	stopWrites()

	_, stderr, code := execute(t, append(args, "--cutover-after", "3")...)
	if code != exitOK {
		t.Fatalf("rerun after the kill: exit %d\n%s", code, stderr)
	}
	after := warmRounds(t, runDir, vm.Spec.Name)[len(before):]
	if len(after) == 0 || after[0].Precopy.Round != last.Round+1 || after[0].Precopy.Since != last.ChangeID || after[0].Precopy.Restart != "" {
		t.Fatalf("the rerun's rounds %+v do not continue from round %d (change id %s)", after, last.Round, last.ChangeID)
	}
	if !after[len(after)-1].Precopy.Final {
		t.Errorf("the rerun's last round is not the final one: %+v", after[len(after)-1].Precopy)
	}
	if st, err := conn.VMWarmState(ctx, vm.Spec.Source.Moref); err != nil || len(st.Snapshots) != 0 || st.PowerState != "poweredOff" {
		t.Errorf("source after cutover: %+v, %v; want off without migration snapshots", st, err)
	}
	// convert checksum of the source disk, as the check does it.
	events, err := runrecord.ReadJournal(runDir)
	if err != nil {
		t.Fatal(err)
	}
	var recorded string
	for _, e := range events {
		if e.VM == vm.Spec.Name && e.Phase == runrecord.PhaseTransfer && e.Result == runrecord.ResultDone && e.Transfer != nil {
			recorded = e.Transfer.Checksum
		}
	}
	out, stderr, code := execute(t, "convert", "checksum", "--no-progress", "-o", "json", vm.Spec.Disks[0].Source)
	var sums []diskChecksum
	if code != exitOK || json.Unmarshal([]byte(out), &sums) != nil || len(sums) != 1 {
		t.Fatalf("convert checksum %s: exit %d %s %s", vm.Spec.Disks[0].Source, code, out, stderr)
	}
	if recorded == "" || sums[0].Checksum != recorded {
		t.Errorf("source %s has checksum %s, the migrated disk's recorded checksum is %q", vm.Spec.Disks[0].Source, sums[0].Checksum, recorded)
	}
	rep, err := reports.Load(runDir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if ws := rep.Performance.Warm; len(ws) != 1 || ws[0].Downtime <= 0 {
		t.Errorf("report's warm migrations %+v: want the VM's downtime", ws)
	}
}

// warmRounds returns vm's completed precopy rounds in the run record.
func warmRounds(t *testing.T, runDir, vm string) []runrecord.Event {
	t.Helper()
	if _, err := os.Stat(filepath.Join(runDir, runrecord.JournalFile)); err != nil {
		return nil
	}
	events, err := runrecord.ReadJournal(runDir)
	if err != nil {
		t.Fatal(err)
	}
	var out []runrecord.Event
	for _, e := range events {
		if e.VM == vm && e.Phase == runrecord.PhasePrecopy && e.Result == runrecord.ResultDone && e.Precopy != nil {
			out = append(out, e)
		}
	}
	return out
}

// guestWrites writes random 64 KiB blocks behind the test guest's boot
// partition of the VM's first disk until stopped, as a busy guest would.
// (The double's --churn writes anywhere on the disk, boot files included.)
func guestWrites(t *testing.T, sim *vcsim.Simulator, conn *vsphere.Conn, moref string) func() {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	devs, err := object.NewVirtualMachine(conn.Client, types.ManagedObjectReference{Type: "VirtualMachine", Value: moref}).Device(ctx)
	if err != nil {
		t.Fatal(err)
	}
	key := devs.SelectByType((*types.VirtualDisk)(nil))[0].GetVirtualDevice().Key
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 64<<10)
		for i := int64(0); ctx.Err() == nil; i++ {
			rand.Read(buf)
			_ = sim.GuestWrite(moref, key, (40<<20)+(i*7%384)*(64<<10), buf)
			time.Sleep(20 * time.Millisecond)
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { cancel(); wg.Wait() }) }
}
