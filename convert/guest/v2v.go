package guest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// DefaultProgram is the converter: virt-v2v's in-place mode rewrites the
// guest inside the disk the copy engine has just written, so the streaming
// copy stays a single pass and no second copy of the disk is made.
const DefaultProgram = "virt-v2v-in-place"

// Options says how to run the conversion.
type Options struct {
	// Format of the disk: qcow2 (default) or raw.
	Format string
	// Accel is the runtime's accelerator verdict, kvm or tcg. Anything but
	// kvm makes libguestfs' appliance run under TCG (force_tcg): on a host
	// where KVM only looks usable the appliance would hang.
	Accel string
	// CacheDir keeps libguestfs' appliance (built by supermin on first
	// use, about a minute) for later runs; empty: libguestfs' default.
	CacheDir string
	// LogFile receives virt-v2v's verbose log (-v -x); default DISK.v2v.log.
	LogFile string
	// Program is the converter; default virt-v2v-in-place.
	Program string
	// Progress, if set, gets virt-v2v's progress lines as they come.
	Progress func(line string)
	// MACs are the VM's NIC MACs in order (kept on the target): when set,
	// the NIC names the guest's network configuration uses are pinned to
	// them (PinNICNamesInGuest) before virt-v2v runs.
	MACs []string
}

// Result is what one conversion did.
type Result struct {
	Disk       string        `json:"disk"`
	Program    string        `json:"program"`
	Accel      string        `json:"accel"` // kvm or tcg (the appliance's)
	Duration   time.Duration `json:"durationNs"`
	LogFile    string        `json:"logFile"`
	Inspection Inspection    `json:"inspection"`
	Steps      []string      `json:"steps"`               // virt-v2v's progress lines, e.g. "Converting Debian GNU/Linux 12 (bookworm) to run on KVM"
	Removed    []string      `json:"removed,omitempty"`   // packages removed from the guest (VMware tools)
	FirstBoot  []string      `json:"firstBoot,omitempty"` // what the guest does on its first boot, e.g. "install qemu-guest-agent"
	Warnings   []string      `json:"warnings,omitempty"`  // virt-v2v's warnings
	// InitramfsModules are the drivers added to the guest's initramfs list.
	InitramfsModules []string `json:"initramfsModules,omitempty"`
	// Commands are what virt-v2v ran inside the guest (package removal,
	// initramfs and boot loader updates).
	Commands []string `json:"commands,omitempty"`
	// NICNames is what pinning the NIC names did (nil: no MACs were given).
	NICNames *Pinning `json:"nicNames,omitempty"`
}

// Convert runs virt-v2v-in-place on disk. It needs root (or a readable
// kernel for supermin) and libguestfs' direct backend.
func Convert(ctx context.Context, disk string, o Options) (*Result, error) {
	if o.Format == "" {
		o.Format = "qcow2"
	}
	if o.Program == "" {
		o.Program = DefaultProgram
	}
	if o.LogFile == "" {
		o.LogFile = disk + ".v2v.log"
	}
	accel := "tcg"
	if o.Accel == "kvm" {
		accel = "kvm"
	}
	if _, err := os.Stat(disk); err != nil {
		return nil, fmt.Errorf("guest conversion: %w", err)
	}
	if _, err := exec.LookPath(o.Program); err != nil {
		return nil, fmt.Errorf("guest conversion of %s: %w (install the virt-v2v package)", disk, err)
	}
	logf, err := os.Create(o.LogFile)
	if err != nil {
		return nil, fmt.Errorf("guest conversion of %s: log: %w", disk, err)
	}
	defer logf.Close()

	start := time.Now()
	var pinning *Pinning
	var pinWarning string
	if len(o.MACs) > 0 {
		if o.Progress != nil {
			o.Progress("Pinning NIC names to their MACs")
		}
		// A guest libguestfs cannot inspect fails virt-v2v below with the
		// better message: here it is only a warning.
		if pinning, err = PinNICNamesInGuest(ctx, disk, o.MACs, o); err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("guest conversion of %s: %w", disk, ctx.Err())
			}
			pinWarning = "NIC names not pinned: " + err.Error()
		}
	}
	cmd := exec.CommandContext(ctx, o.Program, "-v", "-x", "-i", "disk", "-if", o.Format, disk)
	cmd.Env = Environ(os.Environ(), accel, o.CacheDir)
	// One pipe for stdout and stderr: the kernel keeps each write whole, so
	// progress lines never split libguestfs' trace lines in the log.
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("guest conversion of %s: %w", disk, err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	progress := progressWriter{fn: o.Progress}
	copied := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.MultiWriter(logf, &progress), pr)
		pr.Close()
		copied <- err
	}()
	runErr := cmd.Start()
	pw.Close()
	if runErr == nil {
		runErr = cmd.Wait()
	}
	// A helper the converter left running may hold the pipe open: stop
	// reading a few seconds after the converter itself has exited.
	select {
	case err := <-copied:
		if err != nil && runErr == nil {
			runErr = fmt.Errorf("log: %w", err)
		}
	case <-time.After(10 * time.Second):
		pr.Close()
		<-copied
	}
	progress.flush()
	res := &Result{Disk: disk, Program: o.Program, Accel: accel, Duration: time.Since(start), LogFile: o.LogFile}
	if err := logf.Sync(); err != nil {
		return nil, fmt.Errorf("guest conversion of %s: log: %w", disk, err)
	}
	log, err := os.ReadFile(o.LogFile)
	if err != nil {
		return nil, fmt.Errorf("guest conversion of %s: log: %w", disk, err)
	}
	parseLog(log, res)
	res.NICNames = pinning
	if pinWarning != "" {
		res.Warnings = append(res.Warnings, pinWarning)
	}
	for _, n := range pinning.unpinned() {
		res.Warnings = append(res.Warnings, fmt.Sprintf("NIC name %s is configured in the guest but no NIC is left for it: not pinned", n))
	}
	if runErr != nil {
		if ctx.Err() != nil {
			return res, fmt.Errorf("guest conversion of %s: %w", disk, ctx.Err())
		}
		return res, fmt.Errorf("guest conversion of %s: %s: %w: %s (log: %s)", disk, o.Program, runErr, lastError(log), o.LogFile)
	}
	return res, nil
}

// Environ returns env with libguestfs set up as Convert runs it: the direct
// backend, TCG unless accel is kvm, and the appliance cache in cacheDir.
func Environ(env []string, accel, cacheDir string) []string {
	out := make([]string, 0, len(env)+3)
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "LIBGUESTFS_BACKEND", "LIBGUESTFS_BACKEND_SETTINGS":
			continue
		case "LIBGUESTFS_CACHEDIR":
			if cacheDir != "" {
				continue
			}
		}
		out = append(out, kv)
	}
	out = append(out, "LIBGUESTFS_BACKEND=direct")
	if accel != "kvm" {
		out = append(out, "LIBGUESTFS_BACKEND_SETTINGS=force_tcg")
	}
	if cacheDir != "" {
		out = append(out, "LIBGUESTFS_CACHEDIR="+cacheDir)
	}
	return out
}

// PrepareCache creates the appliance cache folder.
func PrepareCache(dir string) error {
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(filepath.Clean(dir), 0o755); err != nil {
		return fmt.Errorf("guest conversion: appliance cache: %w", err)
	}
	return nil
}

// progressWriter passes virt-v2v's "[  12.3] Doing something" lines on.
type progressWriter struct {
	buf bytes.Buffer
	fn  func(string)
}

func (p *progressWriter) Write(b []byte) (int, error) {
	p.buf.Write(b)
	for {
		line, err := p.buf.ReadString('\n')
		if errors.Is(err, io.EOF) {
			p.buf.WriteString(line)
			return len(b), nil
		}
		p.emit(line)
	}
}

func (p *progressWriter) flush() {
	if p.buf.Len() > 0 {
		p.emit(p.buf.String())
		p.buf.Reset()
	}
}

func (p *progressWriter) emit(line string) {
	if s, ok := progressStep(line); ok && p.fn != nil {
		p.fn(s)
	}
}

// DefaultCacheDir is where the appliance is kept unless told otherwise:
// $PODVM_CACHE/libguestfs, else the user cache folder's
// podvm-migrate/libguestfs (the same cache podvm-migrate uses elsewhere).
func DefaultCacheDir() string {
	if d := os.Getenv("PODVM_CACHE"); d != "" {
		return filepath.Join(d, "libguestfs")
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "podvm-migrate", "libguestfs")
	}
	return ""
}
