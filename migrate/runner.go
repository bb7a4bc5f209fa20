package migrate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/podvm-migrate/podvm-migrate/checks/probe"
	"github.com/podvm-migrate/podvm-migrate/disksource"
	"github.com/podvm-migrate/podvm-migrate/plan"
	"github.com/podvm-migrate/podvm-migrate/podvm"
	"github.com/podvm-migrate/podvm-migrate/runrecord"
)

// Options steer one migration run.
type Options struct {
	RunDir       string        // the run directory: journal, disks, images
	Parallel     int           // VMs migrated at once; default 2
	PerDatastore int           // disk transfers at once from one datastore; default 2
	PerHost      int           // disk transfers at once from one ESXi host; default 2
	VMs          []string      // only these VMs (pod VM or source names); default every ready VM
	Retries      int           // extra attempts after a transient fault (0: none)
	Backoff      time.Duration // first retry delay, doubled each time; default 1s
	Progress     Progress      // may be nil
	// Quiesce, when set, readies each source VM before its disks are read
	// (e.g. shuts it down in vSphere) and says what it did.
	Quiesce func(ctx context.Context, vm *plan.PlannedVM) (string, error)
	// Checks bound the post-migration checks of each ready pod VM.
	Checks probe.Options
	// Warm, when set, migrates powered-on VMs with CBT warm (warm.go).
	Warm *WarmOptions
	// PowerState, when set, tells the source VM's power state
	// (poweredOn, poweredOff, suspended; "" when unknown), so that a VM
	// copied cold while it runs is warned about.
	PowerState func(ctx context.Context, vm *plan.PlannedVM) (string, error)
}

// Progress receives what the runner does, for bars, log lines or JSON.
type Progress interface {
	Event(e runrecord.Event)
	Bytes(vm, disk string, done, total int64)
}

// VMResult is how one VM's migration ended.
type VMResult struct {
	VM     string `json:"vm"`
	Status string `json:"status"` // ready, failed, interrupted
	Image  string `json:"image,omitempty"`
	Accel  string `json:"accel,omitempty"`
	Error  string `json:"error,omitempty"`
	// Checks are the outcomes of the plan's post-migration checks.
	Checks []runrecord.Check `json:"checks,omitempty"`
}

// Runner migrates the VMs of a plan: their disks through Disks, then
// packaged and booted by the Target. It orders the steps, times them,
// retries transient faults, journals them and resumes from the journal.
type Runner struct {
	plan    *plan.Plan
	disks   Disks
	target  Target
	o       Options
	journal *runrecord.Journal
	done    map[string]runrecord.Event // last successful event per vm/disk/phase, from earlier runs
	sems    map[string]chan struct{}   // "ds:NAME" and "host:NAME" -> slots
	mu      sync.Mutex
	lock    *os.File // flock on the run directory
	jerr    error    // the first failed journal write
	stop    context.CancelCauseFunc
}

// Statuses of a VMResult besides ready and failed.
const (
	StatusReady = "ready"
	// StatusInterrupted is a VM the user stopped (Ctrl-C) before it was
	// ready: a rerun resumes it.
	StatusInterrupted = "interrupted"
)

// minFreeBytes is the free space a run directory needs before anything is
// copied: room for the journal and the image metadata.
const minFreeBytes = 4 << 20

// NewRunner prepares a run in o.RunDir, reading what earlier runs there
// finished so that they are skipped (after verification).
func NewRunner(pl *plan.Plan, disks Disks, target Target, o Options) (*Runner, error) {
	if o.RunDir == "" {
		return nil, fmt.Errorf("migrate: no run directory")
	}
	if o.Parallel < 1 {
		o.Parallel = 2
	}
	if o.PerDatastore < 1 {
		o.PerDatastore = 2
	}
	if o.PerHost < 1 {
		o.PerHost = 2
	}
	if o.Retries < 0 {
		return nil, fmt.Errorf("migrate: retries %d: want 0 or more", o.Retries)
	}
	if o.Backoff == 0 {
		o.Backoff = time.Second
	}
	for _, d := range []string{"disks", "images"} {
		if err := os.MkdirAll(filepath.Join(o.RunDir, d), 0o755); err != nil {
			return nil, fmt.Errorf("run directory: %w", err)
		}
	}
	lock, err := lockRunDir(o.RunDir)
	if err != nil {
		return nil, err
	}
	if err := removeLeftovers(o.RunDir); err != nil {
		lock.Close()
		return nil, err
	}
	r := &Runner{plan: pl, disks: disks, target: target, o: o, done: map[string]runrecord.Event{}, sems: map[string]chan struct{}{}, lock: lock}
	if _, err := os.Stat(filepath.Join(o.RunDir, runrecord.JournalFile)); err == nil {
		events, err := runrecord.ReadJournal(o.RunDir)
		if err != nil {
			lock.Close()
			return nil, err
		}
		// Replay in order: a step counts as done only if nothing started or
		// failed after its last success.
		for _, e := range events {
			switch e.Result {
			case runrecord.ResultDone, runrecord.ResultSkipped:
				r.done[key(e.VM, e.Disk, e.Phase)] = e
			case runrecord.ResultStarted, runrecord.ResultFailed:
				delete(r.done, key(e.VM, e.Disk, e.Phase))
			}
		}
	}
	j, err := runrecord.OpenJournal(o.RunDir)
	if err != nil {
		lock.Close()
		return nil, err
	}
	r.journal = j
	return r, nil
}

func key(vm, disk, phase string) string { return vm + "\x00" + disk + "\x00" + phase }

// Close closes the journal and releases the run directory.
func (r *Runner) Close() error {
	err := r.journal.Close()
	r.lock.Close()
	return err
}

// Run migrates every selected, unblocked VM with bounded concurrency. A
// VM's failure does not stop the others; the error lists the failed VMs.
func (r *Runner) Run(parent context.Context) ([]VMResult, error) {
	vms, err := selectVMs(r.plan, r.o.VMs)
	if err != nil {
		return nil, err
	}
	if err := r.checkSpace(vms); err != nil {
		return nil, err
	}
	// A journal that cannot be written stops the run: work it cannot
	// record would be done again, unverified, by a rerun.
	ctx, stop := context.WithCancelCause(parent)
	defer stop(nil)
	r.mu.Lock()
	r.stop = stop
	r.mu.Unlock()
	start := time.Now()
	r.emit(runrecord.Event{Phase: runrecord.PhaseRun, Result: runrecord.ResultStarted, Attrs: map[string]string{"vms": fmt.Sprint(len(vms))}})
	if w := r.spaceWarning(vms); w != "" {
		r.emit(runrecord.Event{Phase: runrecord.PhaseRun, Result: runrecord.ResultWarning, Attrs: map[string]string{"note": w}})
	}
	results := make([]VMResult, len(vms))
	// Two pools of Parallel slots: one for the copy and packaging, one for
	// boot and readiness. A VM hands its copy slot on when it starts to
	// boot, so the next VM's transfer overlaps the guest coming up.
	work := make(chan struct{}, r.o.Parallel)
	boot := make(chan struct{}, r.o.Parallel)
	var wg sync.WaitGroup
	for i, vm := range vms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !acquire(ctx, work) {
				results[i] = r.stopped(ctx, vm, "", VMResult{VM: vm.Spec.Name})
				return
			}
			var once sync.Once
			releaseWork := func() { once.Do(func() { <-work }) }
			defer releaseWork()
			handoff := func() (func(), error) {
				releaseWork()
				if !acquire(ctx, boot) {
					return nil, ctx.Err()
				}
				return func() { <-boot }, nil
			}
			results[i] = r.checkVM(ctx, vm, r.migrateVM(ctx, vm, handoff))
		}()
	}
	wg.Wait()
	var failed, interrupted []string
	for _, res := range results {
		switch res.Status {
		case StatusReady:
		case StatusInterrupted:
			interrupted = append(interrupted, res.VM)
		default:
			failed = append(failed, res.VM)
		}
	}
	result := runrecord.ResultDone
	switch {
	case len(failed) > 0:
		result = runrecord.ResultFailed
	case len(interrupted) > 0:
		result = runrecord.ResultInterrupted
	}
	r.emit(runrecord.Event{Phase: runrecord.PhaseRun, Result: result, Duration: time.Since(start)})
	if jerr := r.journalErr(); jerr != nil {
		return results, fmt.Errorf("run stopped: the run record is incomplete, so a rerun cannot trust it: %w", jerr)
	}
	if parent.Err() != nil && len(interrupted) > 0 {
		msg := fmt.Sprintf("interrupted: %d of %d VMs unfinished (%s)", len(interrupted), len(vms), strings.Join(interrupted, ", "))
		if len(failed) > 0 {
			msg += fmt.Sprintf(", %d failed (%s)", len(failed), strings.Join(failed, ", "))
		}
		return results, errors.New(msg + ": rerun the same command to resume")
	}
	if len(failed) > 0 {
		return results, fmt.Errorf("%d of %d VMs failed: %s (see 'podvm-migrate report %s')", len(failed), len(vms), strings.Join(failed, ", "), r.o.RunDir)
	}
	return results, nil
}

// selectVMs returns the plan's VMs to migrate: not blocked, and named in
// names when given. A name that is not in the plan, or names a blocked VM,
// is a *UsageError.
func selectVMs(p *plan.Plan, names []string) ([]*plan.PlannedVM, error) {
	var out []*plan.PlannedVM
	if len(names) > 0 {
		seen := map[*plan.PlannedVM]bool{}
		for _, name := range names {
			vm, ok := p.VM(name)
			if !ok {
				return nil, &UsageError{fmt.Errorf("--vm %s: not in the plan (its VMs: %s)", name, vmNames(p))}
			}
			if vm.Status == plan.StatusBlocked {
				return nil, &UsageError{fmt.Errorf("--vm %s: blocked in the plan (see its findings, or re-plan with --allow)", name)}
			}
			if !seen[vm] {
				seen[vm] = true
				out = append(out, vm)
			}
		}
		return out, nil
	}
	for i := range p.VMs {
		if p.VMs[i].Status != plan.StatusBlocked {
			out = append(out, &p.VMs[i])
		}
	}
	if len(p.VMs) == 0 {
		return nil, fmt.Errorf("the plan has no VMs")
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no VM of the plan is ready to migrate: every one is blocked")
	}
	return out, nil
}

// vmNames lists a plan's VMs for an error message, the first few only.
func vmNames(p *plan.Plan) string {
	var names []string
	for _, vm := range p.VMs {
		if len(names) == 5 {
			names = append(names, "…")
			break
		}
		names = append(names, vm.Spec.Name)
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// migrateVM takes one VM through every step; handoff trades its copy slot
// for a boot slot before the boot.
func (r *Runner) migrateVM(ctx context.Context, vm *plan.PlannedVM, handoff func() (func(), error)) VMResult {
	name := vm.Spec.Name
	res := VMResult{VM: name}
	fail := func(phase string, err error) VMResult {
		if ctx.Err() != nil {
			return r.stopped(ctx, vm, phase, res)
		}
		r.emit(runrecord.Event{VM: name, Phase: phase, Result: runrecord.ResultFailed, Error: err.Error()})
		res.Status, res.Error = runrecord.ResultFailed, fmt.Sprintf("%s: %v", phase, err)
		return res
	}
	if ctx.Err() != nil { // stopped while it waited for its turn
		return r.stopped(ctx, vm, "", res)
	}
	if n, ok := r.target.(NameChecker); ok {
		// Before anything is copied: is the pod VM's name taken by one
		// this run did not make?
		if err := n.CheckName(ctx, vm, r.target.ImageRef(r.o.RunDir, name)); err != nil {
			return fail(runrecord.PhaseBoot, err)
		}
	}
	var disks, sums []string
	warm := false
	if r.o.Warm != nil {
		var phase string
		var err error
		if disks, sums, warm, phase, err = r.warmVM(ctx, vm); err != nil {
			return fail(phase, err)
		}
	}
	if !warm && r.o.Quiesce == nil {
		r.warnPoweredOn(ctx, vm)
	}
	if !warm && r.o.Quiesce != nil {
		start := time.Now()
		did, err := r.o.Quiesce(ctx, vm)
		if err != nil {
			return fail(runrecord.PhaseQuiesce, err)
		}
		r.emit(runrecord.Event{VM: name, Phase: runrecord.PhaseQuiesce, Result: runrecord.ResultDone, Duration: time.Since(start), Attrs: map[string]string{"action": did}})
	}
	// Transfer and convert every disk.
	for i, d := range vm.Spec.Disks {
		if warm {
			break
		}
		path, sum, err := r.transferDisk(ctx, vm, i, d)
		if err != nil {
			if !strings.Contains(err.Error(), "disk "+d.Name+" ") {
				err = fmt.Errorf("%s: %w", d.Name, err) // name the disk once
			}
			return fail(runrecord.PhaseTransfer, err)
		}
		disks, sums = append(disks, path), append(sums, sum)
	}
	// Package the image: skipped only when the same disks and the same spec
	// made the image that is still there.
	ref := r.target.ImageRef(r.o.RunDir, name)
	specSum := specHash(&vm.Spec)
	packaged := false
	if prev, ok := r.done[key(name, "", runrecord.PhasePackage)]; ok && prev.Package != nil &&
		slices.Equal(prev.Package.Checksums, sums) && prev.Package.Spec == specSum && r.target.ImageOK(ctx, ref, prev.Package.Digest) {
		r.emit(runrecord.Event{VM: name, Phase: runrecord.PhasePackage, Result: runrecord.ResultSkipped, Bytes: prev.Bytes, Package: prev.Package})
		if prev.Package.Ref != "" {
			ref = prev.Package.Ref
		}
	} else {
		packaged = true
		start := time.Now()
		r.emit(runrecord.Event{VM: name, Phase: runrecord.PhasePackage, Result: runrecord.ResultStarted})
		var pr *PackageResult
		err := r.retry(ctx, name, "", runrecord.PhasePackage, func() error {
			var err error
			pr, err = r.target.Package(ctx, vm, disks, ref)
			return err
		})
		if err != nil {
			return fail(runrecord.PhasePackage, err)
		}
		r.emit(runrecord.Event{VM: name, Phase: runrecord.PhasePackage, Result: runrecord.ResultDone, Bytes: pr.Bytes, Duration: time.Since(start),
			Package: &runrecord.Package{Ref: pr.Ref, Digest: pr.Digest, Checksums: sums, Spec: specSum}})
		ref = pr.Ref
	}
	res.Image = ref
	// Boot and wait for readiness: a pod VM that was ready from this very
	// image, and still runs, is left alone; a new image boots anew.
	if prev, ok := r.done[key(name, "", runrecord.PhaseReady)]; ok && !packaged && r.target.Running(ctx, vm) {
		r.emit(runrecord.Event{VM: name, Phase: runrecord.PhaseReady, Result: runrecord.ResultSkipped, Accel: prev.Accel})
		res.Status, res.Accel = "ready", prev.Accel
		return res
	}
	release, err := handoff()
	if err != nil {
		return fail(runrecord.PhaseBoot, err)
	}
	defer release()
	r.emit(runrecord.Event{VM: name, Phase: runrecord.PhaseBoot, Result: runrecord.ResultStarted})
	var br *BootResult
	err = r.retry(ctx, name, "", runrecord.PhaseBoot, func() error {
		var err error
		br, err = r.target.Boot(ctx, vm, ref)
		return err
	})
	if err != nil {
		return fail(runrecord.PhaseBoot, err)
	}
	r.emit(runrecord.Event{VM: name, Phase: runrecord.PhaseBoot, Result: runrecord.ResultDone, Duration: br.Started, Accel: br.Accel})
	ready := runrecord.Event{VM: name, Phase: runrecord.PhaseReady, Result: runrecord.ResultDone, Duration: br.ReadyAfter, Accel: br.Accel}
	if len(br.Addresses) > 0 {
		ready.Attrs = map[string]string{"addresses": strings.Join(br.Addresses, ",")}
	}
	r.emit(ready)
	res.Status, res.Accel = "ready", br.Accel
	return res
}

// transferDisk copies one disk, or verifies and skips one an earlier run
// finished. The target is written under a temporary name by the stage and
// renamed into place only when complete.
func (r *Runner) transferDisk(ctx context.Context, vm *plan.PlannedVM, i int, d podvm.Disk) (string, string, error) {
	name := vm.Spec.Name
	dst := filepath.Join(r.o.RunDir, "disks", name, d.Name+".qcow2")
	if prev, ok := r.done[key(name, d.Name, runrecord.PhaseTransfer)]; ok && prev.Transfer != nil && prev.Transfer.Source == d.Source {
		sum, err := r.disks.Checksum(ctx, dst)
		if (err == nil && sum == prev.Transfer.Checksum) || (errors.Is(err, os.ErrNotExist) && r.inImage(ctx, vm, i, prev.Transfer.Checksum)) {
			r.emit(runrecord.Event{VM: name, Disk: d.Name, Phase: runrecord.PhaseTransfer, Result: runrecord.ResultSkipped, Bytes: prev.Bytes, Transfer: prev.Transfer})
			return dst, prev.Transfer.Checksum, nil
		}
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", "", err
	}
	// Bound the load on the source: per ESXi host, then per datastore.
	if h := vm.Spec.Source.Host; h != "" {
		defer r.acquire(ctx, "host:"+h, r.o.PerHost)()
	}
	if src, err := disksource.Parse(d.Source); err == nil && src.Kind == disksource.KindDatastore {
		defer r.acquire(ctx, "ds:"+vm.Spec.Source.Datacenter+"/"+src.Datastore, r.o.PerDatastore)()
	}
	start := time.Now()
	r.emit(runrecord.Event{VM: name, Disk: d.Name, Phase: runrecord.PhaseTransfer, Result: runrecord.ResultStarted, Transfer: &runrecord.Transfer{Source: d.Source}})
	var tr *TransferResult
	err := r.retry(ctx, name, d.Name, runrecord.PhaseTransfer, func() error {
		var err error
		tr, err = r.disks.Transfer(ctx, vm, d, dst, func(done, total int64) {
			if r.o.Progress != nil {
				r.o.Progress.Bytes(name, d.Name, done, total)
			}
		})
		return err
	})
	if err != nil {
		if ctx.Err() == nil { // an interruption is recorded by the caller
			r.emit(runrecord.Event{VM: name, Disk: d.Name, Phase: runrecord.PhaseTransfer, Result: runrecord.ResultFailed, Error: err.Error()})
		}
		return "", "", err
	}
	rec := &runrecord.Transfer{Source: d.Source, Target: dst, SourceFormat: tr.SourceFormat, SourceMap: tr.SourceMap, Checksum: tr.Checksum,
		VirtualBytes: tr.VirtualBytes, WrittenBytes: tr.WrittenBytes, Guest: tr.Guest}
	r.emit(runrecord.Event{VM: name, Disk: d.Name, Phase: runrecord.PhaseTransfer, Result: runrecord.ResultDone, Bytes: tr.ReadBytes, Duration: time.Since(start), Transfer: rec})
	return dst, tr.Checksum, nil
}

// inImage reports whether disk i's earlier transfer now lives only in
// the VM's image: the runtime target makes a transferred qcow2 the image's
// layer in place (image.BuildOptions.Adopt), so disks/ no longer holds it.
// That transfer counts as done while the image built from its checksum,
// with the same spec, is intact; otherwise the disk is copied again.
func (r *Runner) inImage(ctx context.Context, vm *plan.PlannedVM, i int, sum string) bool {
	prev, ok := r.done[key(vm.Spec.Name, "", runrecord.PhasePackage)]
	if !ok || prev.Package == nil || i >= len(prev.Package.Checksums) || prev.Package.Checksums[i] != sum || prev.Package.Spec != specHash(&vm.Spec) {
		return false
	}
	return r.target.ImageOK(ctx, r.target.ImageRef(r.o.RunDir, vm.Spec.Name), prev.Package.Digest)
}

// acquire takes a slot of sem, or reports that ctx ended first.
func acquire(ctx context.Context, sem chan struct{}) bool {
	select {
	case sem <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

// acquire takes one of n slots of a named resource (a datastore, a host)
// and returns its release.
func (r *Runner) acquire(ctx context.Context, name string, n int) func() {
	r.mu.Lock()
	sem, ok := r.sems[name]
	if !ok {
		sem = make(chan struct{}, n)
		r.sems[name] = sem
	}
	r.mu.Unlock()
	select {
	case sem <- struct{}{}:
		return func() { <-sem }
	case <-ctx.Done():
		return func() {}
	}
}

// retry runs f, again after a transient fault, with exponential backoff.
func (r *Runner) retry(ctx context.Context, vm, disk, phase string, f func() error) error {
	var err error
	attempt := 0
	b := wait.Backoff{Duration: r.o.Backoff, Factor: 2, Steps: r.o.Retries + 1}
	werr := wait.ExponentialBackoffWithContext(ctx, b, func(context.Context) (bool, error) {
		if err = f(); err == nil {
			return true, nil
		}
		if attempt >= r.o.Retries || !Transient(err) || ctx.Err() != nil {
			return false, err
		}
		attempt++
		r.emit(runrecord.Event{VM: vm, Disk: disk, Phase: phase, Result: runrecord.ResultRetry, Error: err.Error(), Attrs: map[string]string{"attempt": fmt.Sprint(attempt)}})
		return false, nil
	})
	if werr != nil && ctx.Err() != nil && errors.Is(werr, ctx.Err()) {
		return werr // stopped while waiting to retry
	}
	return err
}

func (r *Runner) journalErr() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.jerr
}

// Transient reports whether err is worth retrying: a dropped or refused
// connection, a timeout, a short read.
func Transient(err error) bool {
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false // a step's own wait ran out, or the run was stopped
	case errors.As(err, &ne) && ne.Timeout(),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.ErrUnexpectedEOF):
		return true
	}
	var te interface{ Temporary() bool }
	return errors.As(err, &te) && te.Temporary()
}

// emit journals an event and passes it to the progress sink. The first
// journal write that fails stops the run (and is reported once).
func (r *Runner) emit(e runrecord.Event) {
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	err := r.journal.Append(e)
	if r.o.Progress != nil {
		r.o.Progress.Event(e)
	}
	if err == nil {
		return
	}
	r.mu.Lock()
	first := r.jerr == nil
	if first {
		r.jerr = err
	}
	stop := r.stop
	r.mu.Unlock()
	if !first {
		return
	}
	if stop != nil {
		stop(fmt.Errorf("run record: %w", err))
	}
	if r.o.Progress != nil {
		r.o.Progress.Event(runrecord.Event{Time: time.Now().UTC(), Phase: runrecord.PhaseRun, Result: runrecord.ResultFailed,
			Error: fmt.Sprintf("%v: stopping the run (%s)", err, journalAdvice(err, r.o.RunDir))})
	}
}
