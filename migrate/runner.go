package migrate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/podvm-migrate/podvm-migrate/convert/remote"
	"github.com/podvm-migrate/podvm-migrate/podvm"
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
	Quiesce func(ctx context.Context, vm *podvm.PlannedVM) (string, error)
}

// Progress receives what the runner does, for bars, log lines or JSON.
type Progress interface {
	Event(e Event)
	Bytes(vm, disk string, done, total int64)
}

// VMResult is how one VM's migration ended.
type VMResult struct {
	VM     string `json:"vm"`
	Status string `json:"status"` // ready, failed
	Image  string `json:"image,omitempty"`
	Accel  string `json:"accel,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Runner migrates the VMs of a plan through the stages.
type Runner struct {
	plan    *podvm.Plan
	stages  Stages
	o       Options
	journal *Journal
	done    map[string]Event         // last successful event per vm/disk/phase, from earlier runs
	sems    map[string]chan struct{} // "ds:NAME" and "host:NAME" -> slots
	mu      sync.Mutex
	lock    *os.File // flock on the run directory
	jerr    error    // the first failed journal write
}

// NewRunner prepares a run in o.RunDir, reading what earlier runs there
// finished so that they are skipped (after verification).
func NewRunner(plan *podvm.Plan, stages Stages, o Options) (*Runner, error) {
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
	r := &Runner{plan: plan, stages: stages, o: o, done: map[string]Event{}, sems: map[string]chan struct{}{}, lock: lock}
	if _, err := os.Stat(filepath.Join(o.RunDir, JournalFile)); err == nil {
		events, err := ReadJournal(o.RunDir)
		if err != nil {
			lock.Close()
			return nil, err
		}
		// Replay in order: a step counts as done only if nothing started or
		// failed after its last success.
		for _, e := range events {
			switch e.Result {
			case ResultDone, ResultSkipped:
				r.done[key(e.VM, e.Disk, e.Phase)] = e
			case ResultStarted, ResultFailed:
				delete(r.done, key(e.VM, e.Disk, e.Phase))
			}
		}
	}
	j, err := OpenJournal(o.RunDir)
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
func (r *Runner) Run(ctx context.Context) ([]VMResult, error) {
	vms, err := r.selected()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	r.emit(Event{Phase: "run", Result: ResultStarted, Attrs: map[string]string{"vms": fmt.Sprint(len(vms))}})
	results := make([]VMResult, len(vms))
	sem := make(chan struct{}, r.o.Parallel)
	var wg sync.WaitGroup
	for i, vm := range vms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				results[i] = VMResult{VM: vm.Spec.Name, Status: ResultFailed, Error: ctx.Err().Error()}
				return
			}
			defer func() { <-sem }()
			results[i] = r.migrateVM(ctx, vm)
		}()
	}
	wg.Wait()
	var failed []string
	for _, res := range results {
		if res.Status != "ready" {
			failed = append(failed, res.VM)
		}
	}
	result := ResultDone
	if len(failed) > 0 {
		result = ResultFailed
	}
	r.emit(Event{Phase: "run", Result: result, Duration: time.Since(start)})
	if jerr := r.journalErr(); jerr != nil {
		return results, fmt.Errorf("the run record is incomplete, so a rerun cannot trust it: %w", jerr)
	}
	if ctx.Err() != nil {
		return results, fmt.Errorf("migration interrupted: %w (rerun the same command to resume)", ctx.Err())
	}
	if len(failed) > 0 {
		return results, fmt.Errorf("%d of %d VMs failed: %s (see 'podvm-migrate report %s')", len(failed), len(vms), strings.Join(failed, ", "), r.o.RunDir)
	}
	return results, nil
}

// selected returns the plan's VMs to migrate: not blocked, and named in
// o.VMs when given.
func (r *Runner) selected() ([]*podvm.PlannedVM, error) {
	var out []*podvm.PlannedVM
	if len(r.o.VMs) > 0 {
		seen := map[*podvm.PlannedVM]bool{}
		for _, name := range r.o.VMs {
			vm, ok := r.plan.VM(name)
			if !ok {
				return nil, fmt.Errorf("--vm %s: not in the plan", name)
			}
			if vm.Status == podvm.StatusBlocked {
				return nil, fmt.Errorf("--vm %s: blocked in the plan (see its findings, or re-plan with --allow)", name)
			}
			if !seen[vm] {
				seen[vm] = true
				out = append(out, vm)
			}
		}
		return out, nil
	}
	for i := range r.plan.VMs {
		if r.plan.VMs[i].Status != podvm.StatusBlocked {
			out = append(out, &r.plan.VMs[i])
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no VM of the plan is ready to migrate: every one is blocked")
	}
	return out, nil
}

func (r *Runner) migrateVM(ctx context.Context, vm *podvm.PlannedVM) VMResult {
	name := vm.Spec.Name
	res := VMResult{VM: name}
	fail := func(phase string, err error) VMResult {
		r.emit(Event{VM: name, Phase: phase, Result: ResultFailed, Error: err.Error()})
		res.Status, res.Error = ResultFailed, fmt.Sprintf("%s: %v", phase, err)
		return res
	}
	if r.o.Quiesce != nil {
		start := time.Now()
		did, err := r.o.Quiesce(ctx, vm)
		if err != nil {
			return fail(PhaseQuiesce, err)
		}
		r.emit(Event{VM: name, Phase: PhaseQuiesce, Result: ResultDone, Duration: time.Since(start), Attrs: map[string]string{"action": did}})
	}
	// Transfer and convert every disk.
	var disks, sums []string
	for _, d := range vm.Spec.Disks {
		path, sum, err := r.transferDisk(ctx, vm, d)
		if err != nil {
			return fail(PhaseTransfer, fmt.Errorf("%s: %w", d.Name, err))
		}
		disks, sums = append(disks, path), append(sums, sum)
	}
	// Package the image: skipped only when the same disks and the same spec
	// made the image that is still there.
	ref := r.stages.ImageRef(r.o.RunDir, name)
	specSum := specHash(&vm.Spec)
	packaged := false
	if prev, ok := r.done[key(name, "", PhasePackage)]; ok && prev.Attrs["checksums"] == strings.Join(sums, ",") &&
		prev.Attrs["spec"] == specSum && r.stages.ImageOK(ctx, ref, prev.Attrs["digest"]) {
		r.emit(Event{VM: name, Phase: PhasePackage, Result: ResultSkipped, Bytes: prev.Bytes, Attrs: prev.Attrs})
		if prev.Attrs["ref"] != "" {
			ref = prev.Attrs["ref"]
		}
	} else {
		packaged = true
		start := time.Now()
		r.emit(Event{VM: name, Phase: PhasePackage, Result: ResultStarted})
		var pr *PackageResult
		err := r.retry(ctx, name, "", PhasePackage, func() error {
			var err error
			pr, err = r.stages.Package(ctx, vm, disks, ref)
			return err
		})
		if err != nil {
			return fail(PhasePackage, err)
		}
		r.emit(Event{VM: name, Phase: PhasePackage, Result: ResultDone, Bytes: pr.Bytes, Duration: time.Since(start),
			Attrs: map[string]string{"ref": pr.Ref, "digest": pr.Digest, "checksums": strings.Join(sums, ","), "spec": specSum}})
		ref = pr.Ref
	}
	res.Image = ref
	// Boot and wait for readiness: a pod VM that was ready from this very
	// image, and still runs, is left alone; a new image boots anew.
	if _, ok := r.done[key(name, "", PhaseReady)]; ok && !packaged && r.stages.Running(ctx, vm) {
		r.emit(Event{VM: name, Phase: PhaseReady, Result: ResultSkipped})
		res.Status = "ready"
		return res
	}
	r.emit(Event{VM: name, Phase: PhaseBoot, Result: ResultStarted})
	var br *BootResult
	err := r.retry(ctx, name, "", PhaseBoot, func() error {
		var err error
		br, err = r.stages.Boot(ctx, vm, ref)
		return err
	})
	if err != nil {
		return fail(PhaseBoot, err)
	}
	attrs := map[string]string{"accel": br.Accel}
	r.emit(Event{VM: name, Phase: PhaseBoot, Result: ResultDone, Duration: br.Started, Attrs: attrs})
	r.emit(Event{VM: name, Phase: PhaseReady, Result: ResultDone, Duration: br.ReadyAfter, Attrs: attrs})
	res.Status, res.Accel = "ready", br.Accel
	return res
}

// transferDisk copies one disk, or verifies and skips one an earlier run
// finished. The target is written under a temporary name by the stage and
// renamed into place only when complete.
func (r *Runner) transferDisk(ctx context.Context, vm *podvm.PlannedVM, d podvm.Disk) (string, string, error) {
	name := vm.Spec.Name
	dst := filepath.Join(r.o.RunDir, "disks", name, d.Name+".qcow2")
	if prev, ok := r.done[key(name, d.Name, PhaseTransfer)]; ok && prev.Attrs["source"] == d.Source {
		if sum, err := r.stages.Checksum(ctx, dst); err == nil && sum == prev.Attrs["checksum"] {
			r.emit(Event{VM: name, Disk: d.Name, Phase: PhaseTransfer, Result: ResultSkipped, Bytes: prev.Bytes, Attrs: prev.Attrs})
			return dst, sum, nil
		}
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", "", err
	}
	// Bound the load on the source: per ESXi host, then per datastore.
	if h := vm.Spec.Source.Host; h != "" {
		defer r.acquire(ctx, "host:"+h, r.o.PerHost)()
	}
	if ds, _, err := remote.ParseDatastorePath(d.Source); err == nil {
		defer r.acquire(ctx, "ds:"+vm.Spec.Source.Datacenter+"/"+ds, r.o.PerDatastore)()
	}
	start := time.Now()
	r.emit(Event{VM: name, Disk: d.Name, Phase: PhaseTransfer, Result: ResultStarted, Attrs: map[string]string{"source": d.Source}})
	var tr *TransferResult
	err := r.retry(ctx, name, d.Name, PhaseTransfer, func() error {
		var err error
		tr, err = r.stages.Transfer(ctx, vm, d, dst, func(done, total int64) {
			if r.o.Progress != nil {
				r.o.Progress.Bytes(name, d.Name, done, total)
			}
		})
		return err
	})
	if err != nil {
		r.emit(Event{VM: name, Disk: d.Name, Phase: PhaseTransfer, Result: ResultFailed, Error: err.Error()})
		return "", "", err
	}
	attrs := map[string]string{"checksum": tr.Checksum, "virtualBytes": fmt.Sprint(tr.VirtualBytes), "writtenBytes": fmt.Sprint(tr.WrittenBytes),
		"target": dst, "source": d.Source}
	for k, v := range tr.Attrs {
		attrs[k] = v
	}
	r.emit(Event{VM: name, Disk: d.Name, Phase: PhaseTransfer, Result: ResultDone, Bytes: tr.ReadBytes, Duration: time.Since(start), Attrs: attrs})
	return dst, tr.Checksum, nil
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
	delay := r.o.Backoff
	for attempt := 0; ; attempt++ {
		err := f()
		if err == nil || attempt >= r.o.Retries || !Transient(err) || ctx.Err() != nil {
			return err
		}
		r.emit(Event{VM: vm, Disk: disk, Phase: phase, Result: ResultRetry, Error: err.Error(), Attrs: map[string]string{"attempt": fmt.Sprint(attempt + 1)}})
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return ctx.Err()
		}
		delay *= 2
	}
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

// emit journals an event and passes it to the progress sink.
func (r *Runner) emit(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	if err := r.journal.Append(e); err != nil {
		r.mu.Lock()
		if r.jerr == nil {
			r.jerr = err
		}
		r.mu.Unlock()
		if r.o.Progress != nil {
			r.o.Progress.Event(Event{Phase: "run", Result: ResultFailed, Error: err.Error()})
		}
	}
	if r.o.Progress != nil {
		r.o.Progress.Event(e)
	}
}
