package convert

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/podvm-migrate/podvm-migrate/convert/block"
	"github.com/podvm-migrate/podvm-migrate/convert/qcow2"
	"github.com/podvm-migrate/podvm-migrate/convert/raw"
	"github.com/podvm-migrate/podvm-migrate/disksource"
)

// DiskOptions say how Disk converts one disk image.
type DiskOptions struct {
	SourceFormat string // vmdk, qcow2 or raw; "" detects it
	Format       string // target: raw or qcow2 (default)
	Force        bool   // overwrite an existing target
	Sync         bool   // fsync the target before renaming it into place
	Compress     bool   // qcow2 target: deflate clusters
	Workers      int    // default: two per core
	Verify       bool   // re-read the finished target and check its checksum
	Checksum     string // SumTree (default), SumSHA256 or SumNone (no Verify then)
	Progress     func(done, total int64)
	// Tee, for a qcow2 target, asks for the file to be laid out before the
	// copy and passed, in file order, to the writer Tee returns (see
	// qcow2.WriterOptions.Tee). It is not called when the source cannot
	// be mapped ahead (a stream) or clusters are compressed.
	Tee func(size int64) io.Writer
	// Opener and Datacenter reach sources on vSphere: "[datastore] path",
	// "vm:NAME/DISK" or a datastore's https://…/folder/… URL (see
	// OpenSource).
	Opener     Opener
	Datacenter string
	// Paths widens which local files a VMDK descriptor may name besides
	// its own folder (see SourceOptions).
	Paths PathPolicy
}

// Result is what Disk did.
type Result struct {
	Source         string  `json:"source"`
	Target         string  `json:"target"`
	SourceFormat   string  `json:"sourceFormat"`
	TargetFormat   string  `json:"targetFormat"`
	VirtualBytes   int64   `json:"virtualBytes"`
	AllocatedBytes int64   `json:"allocatedBytes"`
	ReadBytes      int64   `json:"readBytes"`
	WrittenBytes   int64   `json:"writtenBytes"`
	SourceChecksum string  `json:"sourceChecksum,omitempty"` // "algorithm:hex" of the guest bytes read
	TargetChecksum string  `json:"targetChecksum,omitempty"` // of the target read back (Verify)
	Verified       bool    `json:"verified"`
	Seconds        float64 `json:"seconds"`
	MBPerSecond    float64 `json:"mbPerSecond"` // virtual MB (10^6 bytes) per second
}

// Header is the table header of a Result.
func (r *Result) Header() []string {
	return []string{"source", "target", "format", "virtual", "allocated", "read", "written", "seconds", "MB/s", "checksum"}
}

// Rows is the table row of a Result.
func (r *Result) Rows() [][]string {
	i := func(n int64) string { return strconv.FormatInt(n, 10) }
	return [][]string{{r.Source, r.Target, r.SourceFormat + "->" + r.TargetFormat, i(r.VirtualBytes), i(r.AllocatedBytes),
		i(r.ReadBytes), i(r.WrittenBytes), fmt.Sprintf("%.2f", r.Seconds), fmt.Sprintf("%.1f", r.MBPerSecond), r.SourceChecksum}}
}

// Disk converts the disk image src (a local path, a URL, a datastore path
// or a VM's disk: see OpenSource) into a new image dst. The target is
// written under a temporary name and renamed when complete; on failure it
// is removed. An existing dst is an error unless Force is set.
func Disk(ctx context.Context, src disksource.Source, dst string, o DiskOptions) (*Result, error) {
	if src.Kind == disksource.KindFile && same(src.File, dst) {
		return nil, fmt.Errorf("%s: source and target are the same file", dst)
	}
	img, done, err := OpenSource(ctx, src, SourceOptions{Format: o.SourceFormat, Opener: o.Opener, Datacenter: o.Datacenter, Paths: o.Paths})
	if err != nil {
		return nil, err
	}
	defer done()
	defer img.Close()
	return DiskFrom(ctx, img, src.String(), dst, o)
}

// DiskFrom is Disk from an opened image (a remote one, say), named src in
// the result; it does not close img.
func DiskFrom(ctx context.Context, img block.Image, src, dst string, o DiskOptions) (*Result, error) {
	start := time.Now()
	if o.Format == "" {
		o.Format = FormatQCOW2
	}
	if o.Format != FormatQCOW2 && o.Format != FormatRaw {
		return nil, fmt.Errorf("target format %q: want raw or qcow2", o.Format)
	}
	if o.Checksum == SumNone && o.Verify {
		return nil, fmt.Errorf("verify needs a checksum, not %q", SumNone)
	}
	var err error
	var w block.Writer
	to := block.TargetOptions{Overwrite: o.Force, Sync: o.Sync}
	switch o.Format {
	case FormatRaw:
		w, err = raw.Create(dst, img.Size(), to)
	default:
		w, err = qcow2.Create(dst, img.Size(), qcow2.WriterOptions{TargetOptions: to, Compress: o.Compress, Tee: o.Tee})
	}
	if err != nil {
		return nil, err
	}
	st, err := Copy(ctx, img, w, CopyOptions{Workers: o.Workers, Progress: o.Progress, Checksum: o.Checksum})
	if err == nil {
		err = w.Commit(ctx)
	}
	if err != nil {
		w.Abort()
		return nil, noSpace(err, dst, w.Written(), img.Size())
	}
	r := &Result{Source: src, Target: dst, SourceFormat: img.Format(), TargetFormat: o.Format,
		VirtualBytes: st.VirtualBytes, AllocatedBytes: st.AllocatedBytes, ReadBytes: st.ReadBytes,
		WrittenBytes: w.Written(), SourceChecksum: st.Checksum}
	if o.Verify {
		sum, err := Checksum(ctx, dst, o.Format, ChecksumAlgorithm(st.Checksum), o.Workers)
		if err != nil {
			return nil, fmt.Errorf("verify: %w", err)
		}
		if sum != st.Checksum {
			return nil, fmt.Errorf("verify: %s: checksum %s differs from the source's %s", dst, sum, st.Checksum)
		}
		r.TargetChecksum, r.Verified = sum, true
	}
	r.Seconds = time.Since(start).Seconds()
	if r.Seconds > 0 {
		r.MBPerSecond = float64(r.VirtualBytes) / 1e6 / r.Seconds
	}
	return r, nil
}

// noSpace turns a write that found the file system full into an error
// about dst (not its temporary name) that says how much room there is
// and what to do; other errors are returned as they are.
func noSpace(err error, dst string, written, size int64) error {
	if !errors.Is(err, syscall.ENOSPC) {
		return err
	}
	dir := filepath.Dir(dst)
	free := ""
	var fs unix.Statfs_t
	if unix.Statfs(dir, &fs) == nil {
		free = fmt.Sprintf(" (%.1f MiB free now)", float64(fs.Bavail)*float64(fs.Bsize)/(1<<20))
	}
	return fmt.Errorf("%s: the file system of %s is full%s after %.1f MiB of the image were written; the disk holds up to %.1f MiB: "+
		"free space there or write elsewhere (nothing was left under that name): %w", dst, dir, free, float64(written)/(1<<20), float64(size)/(1<<20), syscall.ENOSPC)
}

func same(a, b string) bool {
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	if err1 == nil && err2 == nil {
		return os.SameFile(sa, sb)
	}
	aa, _ := filepath.Abs(a)
	bb, _ := filepath.Abs(b)
	return aa == bb
}
