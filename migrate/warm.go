package migrate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/podvm-migrate/podvm-migrate/convert/block"
	"github.com/podvm-migrate/podvm-migrate/convert/qcow2"
	"github.com/podvm-migrate/podvm-migrate/disksource"
	"github.com/podvm-migrate/podvm-migrate/plan"
	"github.com/podvm-migrate/podvm-migrate/podvm"
	"github.com/podvm-migrate/podvm-migrate/runrecord"
	"github.com/podvm-migrate/podvm-migrate/vsphere"
)

// WarmSource is what warm migration asks of vSphere: *vsphere.Conn's
// snapshot, CBT and power calls, and the frozen disk files opened for
// reading (VSphereWarm).
type WarmSource interface {
	VMWarmState(ctx context.Context, moref string) (*vsphere.WarmState, error)
	EnableCBT(ctx context.Context, moref string) error
	CreateSnapshot(ctx context.Context, moref, name string) (string, error)
	RemoveSnapshot(ctx context.Context, snap string) error
	SnapshotDisks(ctx context.Context, snap string) ([]vsphere.SnapshotDisk, error)
	ChangedAreas(ctx context.Context, moref, snap string, key int32, changeID string, capacity int64) ([]vsphere.Extent, error)
	PowerOff(ctx context.Context, moref string, grace time.Duration) (string, error)
	// OpenDisk opens a "[datastore] path" disk file of datacenter dc with
	// its parents, to read the guest bytes a snapshot froze.
	OpenDisk(ctx context.Context, dc, file string) (block.Image, func(), error)
}

// WarmOptions turn a run into a warm migration: powered-on VMs with CBT
// are copied in precopy rounds while they run, and cut over later.
type WarmOptions struct {
	Source WarmSource
	// EnableCBT switches CBT on (with the stun it needs) for powered-on
	// VMs without it, instead of migrating them cold.
	EnableCBT bool
	// Interval is the pause between the end of one precopy round and the
	// start of the next; default 1 minute.
	Interval time.Duration
	// CutoverAfter cuts over after this many precopy rounds (0: not by count).
	CutoverAfter int
	// CutoverAt cuts over at this time, after the first round (zero: not by time).
	CutoverAt time.Time
	// ShutdownGrace is how long the guest gets to shut down through VMware
	// Tools before the VM is powered off; default 2 minutes.
	ShutdownGrace time.Duration
	// Poll is how often a pause looks for a cutover request; default 1s.
	Poll time.Duration
	// AfterRound, when set, is called after each completed precopy round
	// of a VM (tests stop a run there).
	AfterRound func(vm string, round int)
}

// warmDisk is one disk's precopy state.
type warmDisk struct {
	disk     podvm.Disk
	dst      string
	changeID string // "" before the first round
	round    int
	written  int64
	capacity int64 // guest bytes, as the last snapshot said
	// leaves are the leaf digests of dst as far as the rounds wrote it; nil
	// when unknown (the cutover then reads the disk whole), and lost says why.
	leaves *leafTable
	lost   string
}

// cutoverDir holds the cutover requests of a run: a file per VM, or "all".
const cutoverDir = "cutover"

// RequestCutover asks the warm migration running in runDir to cut over
// the VMs named (pod VM or source names), or every VM when none is named.
func RequestCutover(runDir string, vms []string) error {
	if _, err := os.Stat(filepath.Join(runDir, runrecord.JournalFile)); err != nil {
		return fmt.Errorf("%s is not a run directory (no %s): give the --run-dir of the running migrate", runDir, runrecord.JournalFile)
	}
	dir := filepath.Join(runDir, cutoverDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cutover request: %w", err)
	}
	if len(vms) == 0 {
		vms = []string{"all"}
	}
	for _, vm := range vms {
		if vm == "" || filepath.Base(vm) != vm || vm[0] == '.' {
			return fmt.Errorf("cutover request: %q is not a VM name", vm)
		}
		if err := os.WriteFile(filepath.Join(dir, vm), []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o644); err != nil {
			return fmt.Errorf("cutover request: %w", err)
		}
	}
	return nil
}

func (r *Runner) cutoverRequested(vm *plan.PlannedVM) bool {
	for _, n := range []string{"all", vm.Spec.Name, vm.Name} {
		if n == "" {
			continue
		}
		if _, err := os.Stat(filepath.Join(r.o.RunDir, cutoverDir, n)); err == nil {
			return true
		}
	}
	return false
}

// warmVM migrates vm warm when it can: precopy rounds, then the cutover
// with the final delta, leaving the disks in the run directory as a cold
// transfer would (and journalled the same way). It returns warm false when
// the VM goes cold instead (powered off, no CBT, not on vSphere, or already
// cut over by an earlier run: the cold path then verifies and skips its
// disks). On failure or cancellation every migration snapshot is removed.
func (r *Runner) warmVM(ctx context.Context, vm *plan.PlannedVM) (disks, sums []string, warm bool, phase string, err error) {
	w := r.o.Warm
	name, moref := vm.Spec.Name, vm.Spec.Source.Moref
	note := func(msg string) {
		r.emit(runrecord.Event{VM: name, Phase: runrecord.PhasePrecopy, Result: runrecord.ResultSkipped, Attrs: map[string]string{"note": msg}})
	}
	if moref == "" || !allOnDatastores(vm) {
		note("migrated cold: not a vSphere VM with its disks on datastores")
		return nil, nil, false, "", nil
	}
	if _, ok := r.done[key(name, "", runrecord.PhaseCutover)]; ok {
		return nil, nil, false, "", nil // cut over before: the transfers are verified and skipped
	}
	st, err := w.Source.VMWarmState(ctx, moref)
	if err != nil {
		return nil, nil, false, runrecord.PhasePrecopy, err
	}
	state := r.warmResume(vm)
	on := st.PowerState == "poweredOn"
	switch {
	case !on && state == nil:
		note("migrated cold: the source VM is " + st.PowerState)
		return nil, nil, false, "", nil
	case !st.CBT && !w.EnableCBT:
		note("migrated cold: CBT is off on the source VM (--enable-cbt switches it on)")
		return nil, nil, false, "", nil
	}
	// From here on, no snapshot of ours survives this function.
	defer func() {
		if err != nil {
			if cerr := r.removeWarmSnapshots(ctx, vm); cerr != nil {
				err = fmt.Errorf("%w; and %w", err, cerr)
			}
		}
	}()
	// A run killed mid-round left its snapshot behind.
	if err := r.removeWarmSnapshots(ctx, vm); err != nil {
		return nil, nil, false, runrecord.PhasePrecopy, err
	}
	if !st.CBT {
		if err := w.Source.EnableCBT(ctx, moref); err != nil {
			return nil, nil, false, runrecord.PhasePrecopy, err
		}
		r.emit(runrecord.Event{VM: name, Phase: runrecord.PhasePrecopy, Result: runrecord.ResultStarted, Attrs: map[string]string{"note": "CBT switched on (--enable-cbt)"}})
	}
	if state == nil {
		state = r.warmFresh(vm)
	}
	rounds := 0
	for _, d := range state {
		rounds = max(rounds, d.round)
	}
	reason := "resume" // the source is already off: a cutover that was cut short
	if on {
		reason = ""
		for reason == "" {
			rounds++
			if err := r.precopyRound(ctx, vm, state, rounds, false); err != nil {
				return nil, nil, false, runrecord.PhasePrecopy, err
			}
			if w.AfterRound != nil {
				w.AfterRound(name, rounds)
			}
			if reason, err = r.waitRound(ctx, vm, rounds); err != nil {
				return nil, nil, false, runrecord.PhasePrecopy, err
			}
		}
	}
	disks, sums, err = r.cutover(ctx, vm, state, rounds, reason)
	if err != nil {
		return nil, nil, false, runrecord.PhaseCutover, err
	}
	return disks, sums, true, "", nil
}

// allOnDatastores reports whether every disk of vm is a datastore file.
func allOnDatastores(vm *plan.PlannedVM) bool {
	for _, d := range vm.Spec.Disks {
		src, err := disksource.Parse(d.Source)
		if err != nil || src.Kind != disksource.KindDatastore {
			return false
		}
	}
	return len(vm.Spec.Disks) > 0
}

// warmFresh is the state of a VM none of whose disks was copied yet.
func (r *Runner) warmFresh(vm *plan.PlannedVM) []*warmDisk {
	var out []*warmDisk
	for _, d := range vm.Spec.Disks {
		out = append(out, &warmDisk{disk: d, dst: r.diskPath(vm, d)})
	}
	return out
}

func (r *Runner) diskPath(vm *plan.PlannedVM, d podvm.Disk) string {
	return filepath.Join(r.o.RunDir, "disks", vm.Spec.Name, d.Name+".qcow2")
}

// warmResume is the precopy state earlier runs journalled for vm, or nil
// when no disk has a completed round. A disk whose target is gone starts
// over.
func (r *Runner) warmResume(vm *plan.PlannedVM) []*warmDisk {
	out := r.warmFresh(vm)
	any := false
	for _, d := range out {
		prev, ok := r.done[key(vm.Spec.Name, d.disk.Name, runrecord.PhasePrecopy)]
		if !ok || prev.Precopy == nil || prev.Precopy.Target != d.dst {
			continue
		}
		if _, err := os.Stat(d.dst); err != nil {
			continue
		}
		d.changeID, d.round, any = prev.Precopy.ChangeID, prev.Precopy.Round, true
		if t, err := loadLeaves(d.dst); err == nil {
			d.leaves = t
		} else {
			d.lost = "no leaf table to trust: " + err.Error()
		}
	}
	if !any {
		return nil
	}
	return out
}

// waitRound pauses between rounds and says why to cut over, or "" to go on.
func (r *Runner) waitRound(ctx context.Context, vm *plan.PlannedVM, rounds int) (string, error) {
	w := r.o.Warm
	interval, poll := w.Interval, w.Poll
	if interval <= 0 {
		interval = time.Minute
	}
	if poll <= 0 {
		poll = time.Second
	}
	due := func() string {
		switch {
		case r.cutoverRequested(vm):
			return "request"
		case w.CutoverAfter > 0 && rounds >= w.CutoverAfter:
			return "rounds"
		case !w.CutoverAt.IsZero() && !time.Now().Before(w.CutoverAt):
			return "time"
		}
		return ""
	}
	if why := due(); why != "" {
		return why, nil
	}
	next := time.Now().Add(interval)
	t := time.NewTicker(min(poll, interval))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case now := <-t.C:
			if why := due(); why != "" {
				return why, nil
			}
			if !now.Before(next) {
				return "", nil
			}
		}
	}
}

// cutover shuts the source down, copies the final delta, and records each
// disk as a finished transfer: checksum, and guest conversion on the boot
// disk.
func (r *Runner) cutover(ctx context.Context, vm *plan.PlannedVM, state []*warmDisk, rounds int, reason string) ([]string, []string, error) {
	w := r.o.Warm
	name := vm.Spec.Name
	co := &runrecord.Cutover{Reason: reason, Rounds: rounds, ShutdownAt: time.Now().UTC()}
	if prev, ok := r.lastCutoverStart(name); ok && reason == "resume" {
		co.ShutdownAt = prev // the downtime began in the run that was cut short
	}
	r.emit(runrecord.Event{VM: name, Phase: runrecord.PhaseCutover, Result: runrecord.ResultStarted, Cutover: co})
	start := time.Now()
	grace := w.ShutdownGrace
	if grace <= 0 {
		grace = 2 * time.Minute
	}
	did, err := w.Source.PowerOff(ctx, vm.Spec.Source.Moref, grace)
	if err != nil {
		return nil, nil, fmt.Errorf("source VM %s: %w", vm.Name, err)
	}
	co.Shutdown, co.ShutdownTime = did, time.Since(start)
	before := int64(0)
	for _, d := range state {
		before += d.written
	}
	if err := r.precopyRound(ctx, vm, state, rounds+1, true); err != nil {
		return nil, nil, err
	}
	for _, d := range state {
		co.Final += d.written
	}
	co.Final -= before
	co.FinalTime = time.Since(start) - co.ShutdownTime
	var disks, sums []string
	for _, d := range state {
		tr := &TransferResult{SourceFormat: "vsphere/cbt"}
		sum, how, err := r.warmChecksum(ctx, d)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: checksum of %s: %w", d.disk.Name, d.dst, err)
		}
		tr.Checksum = sum
		if gc, ok := r.disks.(guestConverter); ok {
			if err := gc.ConvertGuest(ctx, vm, d.disk, d.dst, tr); err != nil {
				return nil, nil, fmt.Errorf("%s: guest conversion: %w", d.disk.Name, err)
			}
		}
		size := int64(0)
		if fi, err := os.Stat(d.dst); err == nil {
			size = fi.Size()
		}
		rec := &runrecord.Transfer{Source: d.disk.Source, Target: d.dst, SourceFormat: tr.SourceFormat, Checksum: tr.Checksum,
			VirtualBytes: d.capacity, WrittenBytes: size, Guest: tr.Guest}
		r.emit(runrecord.Event{VM: name, Disk: d.disk.Name, Phase: runrecord.PhaseTransfer, Result: runrecord.ResultDone, Bytes: d.written, Transfer: rec,
			Attrs: map[string]string{"warm": fmt.Sprintf("%d rounds", rounds+1), "checksum": how}})
		// The transfer is recorded: a rerun verifies the disk whole.
		_ = forgetLeaves(d.dst)
		disks, sums = append(disks, d.dst), append(sums, tr.Checksum)
	}
	co.FinishTime = time.Since(start) - co.ShutdownTime - co.FinalTime
	r.emit(runrecord.Event{VM: name, Phase: runrecord.PhaseCutover, Result: runrecord.ResultDone, Duration: time.Since(start), Bytes: co.Final, Cutover: co})
	// This VM's request is answered; a request for all VMs stays for the others.
	for _, n := range []string{vm.Spec.Name, vm.Name} {
		_ = os.Remove(filepath.Join(r.o.RunDir, cutoverDir, n))
	}
	return disks, sums, nil
}

// lastCutoverStart is when an earlier run's cutover of vm shut its source down.
func (r *Runner) lastCutoverStart(vm string) (time.Time, bool) {
	events, err := runrecord.ReadJournal(r.o.RunDir)
	if err != nil {
		return time.Time{}, false
	}
	var t time.Time
	for _, e := range events {
		if e.VM == vm && e.Phase == runrecord.PhaseCutover && e.Result == runrecord.ResultStarted && e.Cutover != nil {
			t = e.Cutover.ShutdownAt
		}
	}
	return t, !t.IsZero()
}

// guestConverter runs guest conversion on a disk already in the run
// directory (DiskPipeline does).
type guestConverter interface {
	ConvertGuest(ctx context.Context, vm *plan.PlannedVM, d podvm.Disk, dst string, tr *TransferResult) error
}

// ConvertGuest runs guest conversion on dst, a disk warm migration
// finished, as Transfer does after a cold copy.
func (p *DiskPipeline) ConvertGuest(ctx context.Context, vm *plan.PlannedVM, d podvm.Disk, dst string, tr *TransferResult) error {
	return p.convertGuest(ctx, vm, d, dst, tr)
}

// removeWarmSnapshots removes every migration snapshot of vm, even when
// ctx is cancelled (Ctrl-C): none may be left behind.
func (r *Runner) removeWarmSnapshots(ctx context.Context, vm *plan.PlannedVM) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
	defer cancel()
	st, err := r.o.Warm.Source.VMWarmState(cctx, vm.Spec.Source.Moref)
	if err != nil {
		return fmt.Errorf("migration snapshots of %s: %w", vm.Name, err)
	}
	var errs []error
	for _, s := range st.Snapshots {
		if err := r.o.Warm.Source.RemoveSnapshot(cctx, s.Ref); err != nil {
			errs = append(errs, fmt.Errorf("snapshot %s (%s) of %s: %w: remove it in vSphere", s.Name, s.Ref, vm.Name, err))
		}
	}
	return errors.Join(errs...)
}

// precopyRound takes one snapshot of vm, copies each disk's changed areas
// since its last round from the frozen chain into its qcow2, and removes
// the snapshot.
func (r *Runner) precopyRound(ctx context.Context, vm *plan.PlannedVM, state []*warmDisk, round int, final bool) (err error) {
	w := r.o.Warm
	name, moref := vm.Spec.Name, vm.Spec.Source.Moref
	snap, err := w.Source.CreateSnapshot(ctx, moref, fmt.Sprintf("%s-%s-%d", vsphere.SnapshotPrefix, name, round))
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
		defer cancel()
		if rerr := w.Source.RemoveSnapshot(cctx, snap); rerr != nil && err == nil {
			err = rerr
		}
	}()
	frozen, err := w.Source.SnapshotDisks(ctx, snap)
	if err != nil {
		return err
	}
	for _, d := range state {
		sd, ok := matchDisk(frozen, d.disk)
		if !ok {
			return fmt.Errorf("disk %s (%s): not among the disks of snapshot %s", d.disk.Name, d.disk.Source, snap)
		}
		if err := r.precopyDisk(ctx, vm, d, sd, snap, round, final); err != nil {
			return fmt.Errorf("disk %s, round %d: %w", d.disk.Name, round, err)
		}
	}
	return nil
}

// matchDisk finds the spec disk d among a snapshot's disks: by device key,
// else by its file anywhere in the chain.
func matchDisk(frozen []vsphere.SnapshotDisk, d podvm.Disk) (vsphere.SnapshotDisk, bool) {
	if d.SourceKey != 0 {
		for _, f := range frozen {
			if f.Key == d.SourceKey {
				return f, true
			}
		}
	}
	for _, f := range frozen {
		for _, file := range f.Chain {
			if file == d.Source {
				return f, true
			}
		}
	}
	return vsphere.SnapshotDisk{}, false
}

// precopyChunk is the most one read from the frozen chain and one write
// into the target hold.
const precopyChunk = 4 << 20

func (r *Runner) precopyDisk(ctx context.Context, vm *plan.PlannedVM, d *warmDisk, sd vsphere.SnapshotDisk, snap string, round int, final bool) error {
	w := r.o.Warm
	name, moref := vm.Spec.Name, vm.Spec.Source.Moref
	start := time.Now()
	rec := &runrecord.Precopy{Round: round, Since: d.changeID, Target: d.dst, Final: final, Snapshot: snap}
	if d.changeID == "" {
		rec.Since = "*"
	}
	if d.changeID != "" {
		if u, err := qcow2.OpenUpdate(d.dst); err != nil {
			rec.Restart = "the target could not be opened: " + err.Error()
		} else {
			if u.Size() != sd.Capacity {
				rec.Restart = fmt.Sprintf("the disk is %d bytes now, %d before", sd.Capacity, u.Size())
			}
			u.Close(ctx)
		}
	}
	var areas []vsphere.Extent
	var err error
	if rec.Restart == "" {
		areas, err = w.Source.ChangedAreas(ctx, moref, snap, sd.Key, rec.Since, sd.Capacity)
		if errors.Is(err, vsphere.ErrChangeIDInvalid) {
			rec.Restart = "vCenter no longer knows change id " + d.changeID
		} else if err != nil {
			return err
		}
	}
	if rec.Restart != "" || d.changeID == "" {
		// A full copy into a new, empty image.
		if rec.Restart != "" {
			rec.Since = "*"
			if areas, err = w.Source.ChangedAreas(ctx, moref, snap, sd.Key, "*", sd.Capacity); err != nil {
				return err
			}
		}
		if err := os.MkdirAll(filepath.Dir(d.dst), 0o755); err != nil {
			return err
		}
		if err := forgetLeaves(d.dst); err != nil {
			return err
		}
		d.leaves, d.lost = newLeafTable(sd.Capacity), ""
		qw, err := qcow2.Create(d.dst, sd.Capacity, qcow2.WriterOptions{TargetOptions: block.TargetOptions{Overwrite: true, Sync: true}})
		if err != nil {
			return err
		}
		if err := qw.Commit(ctx); err != nil {
			return err
		}
	}
	if h := vm.Spec.Source.Host; h != "" {
		defer r.acquire(ctx, "host:"+h, r.o.PerHost)()
	}
	if src, err := disksource.Parse(d.disk.Source); err == nil {
		defer r.acquire(ctx, "ds:"+vm.Spec.Source.Datacenter+"/"+src.Datastore, r.o.PerDatastore)()
	}
	if len(areas) > 0 {
		// The disk is about to change: no saved table may describe it.
		if err := forgetLeaves(d.dst); err != nil {
			return err
		}
		if d.leaves != nil {
			d.leaves.touch(areas)
		}
	}
	n, err := r.copyAreas(ctx, vm, d, sd, areas)
	if err != nil {
		return err
	}
	d.changeID, d.round, d.written, d.capacity = sd.ChangeID, round, d.written+n, sd.Capacity
	rec.ChangeID, rec.Areas = sd.ChangeID, len(areas)
	var attrs map[string]string
	if !final { // the cutover hashes what the final round wrote
		note, err := r.updateLeaves(ctx, d)
		if err != nil {
			return err
		}
		attrs = map[string]string{"leaves": note}
	}
	r.emit(runrecord.Event{VM: name, Disk: d.disk.Name, Phase: runrecord.PhasePrecopy, Result: runrecord.ResultDone, Bytes: n, Duration: time.Since(start), Precopy: rec, Attrs: attrs})
	return nil
}

// copyAreas reads areas from the frozen chain of sd and writes them in
// place into the target; it returns the bytes copied.
func (r *Runner) copyAreas(ctx context.Context, vm *plan.PlannedVM, d *warmDisk, sd vsphere.SnapshotDisk, areas []vsphere.Extent) (int64, error) {
	var total int64
	for _, a := range areas {
		total += a.Length
	}
	if total == 0 {
		return 0, nil
	}
	img, done, err := r.o.Warm.Source.OpenDisk(ctx, vm.Spec.Source.Datacenter, sd.File)
	if err != nil {
		return 0, fmt.Errorf("frozen disk %s: %w", sd.File, err)
	}
	defer func() {
		img.Close()
		if done != nil {
			done()
		}
	}()
	u, err := qcow2.OpenUpdate(d.dst)
	if err != nil {
		return 0, err
	}
	// One goroutine reads the frozen chain ahead (Map wants a single
	// walker), this one writes: reads and writes overlap, in bounded memory.
	type chunk struct {
		off int64
		p   []byte
	}
	const depth = 3
	free, full := make(chan []byte, depth), make(chan chunk, depth)
	for range depth {
		free <- make([]byte, precopyChunk)
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var rerr error
	go func() {
		defer close(full)
		for _, a := range areas {
			for off := a.Offset; off < a.Offset+a.Length; {
				var buf []byte
				select {
				case buf = <-free:
				case <-rctx.Done():
					rerr = rctx.Err()
					return
				}
				n := min(int64(len(buf)), a.Offset+a.Length-off)
				// Chunks after an area's first start on a leaf boundary, so
				// that whole leaves are hashed as they are copied.
				if edge := (off/precopyChunk + 1) * precopyChunk; edge-off < n {
					n = edge - off
				}
				if err := readRange(rctx, img, buf[:n], off); err != nil {
					rerr = fmt.Errorf("frozen disk %s: %w", sd.File, err)
					return
				}
				full <- chunk{off, buf[:n]}
				off += n
			}
		}
	}()
	var copied int64
	var werr error
	for c := range full {
		if werr == nil {
			if werr = u.WriteAt(ctx, c.p, c.off); werr != nil {
				cancel()
			} else if d.leaves != nil {
				d.leaves.written(c.off, c.p)
			}
			copied += int64(len(c.p))
			if r.o.Progress != nil && werr == nil {
				r.o.Progress.Bytes(vm.Spec.Name, d.disk.Name, copied, total)
			}
		}
		free <- c.p[:cap(c.p)]
	}
	cerr := u.Close(ctx)
	switch {
	case werr != nil:
		return copied, werr
	case rerr != nil:
		return copied, rerr
	}
	return copied, cerr
}

// readRange fills p with the guest bytes of img from off, walking its map:
// holes and zero runs read as zeros.
func readRange(ctx context.Context, img block.Image, p []byte, off int64) error {
	end := off + int64(len(p))
	if end > img.Size() {
		return fmt.Errorf("range %d+%d is past the end of the %d-byte disk", off, len(p), img.Size())
	}
	for pos := off; pos < end; {
		run, err := img.Map(ctx, pos, end-pos)
		if err != nil {
			return err
		}
		if run.Length <= 0 {
			return fmt.Errorf("offset %d: the image maps no bytes", pos)
		}
		dst := p[pos-off : pos-off+run.Length]
		if run.Kind == block.Data {
			if err := run.Read(ctx, dst); err != nil {
				return err
			}
		} else {
			clear(dst)
		}
		pos += run.Length
	}
	return nil
}
