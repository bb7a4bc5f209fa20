package block

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Target is an output file written under a temporary name in the same
// folder and renamed to its final name only when complete.
type Target struct {
	*os.File
	Final string
	TargetOptions
	done    bool
	unkickd int64 // bytes written since writeback was last started
}

// TargetOptions say how a Target treats an existing file and the disk cache.
type TargetOptions struct {
	Overwrite bool // replace an existing final file
	Sync      bool // fsync before the rename (qemu-img convert does not)
}

// CreateTarget creates the temporary file for final. Unless Overwrite is
// set, an existing final file is an error, now and at Commit.
func CreateTarget(final string, o TargetOptions) (*Target, error) {
	if !o.Overwrite {
		if _, err := os.Lstat(final); err == nil {
			return nil, fmt.Errorf("%s already exists (use --force to overwrite it)", final)
		}
	}
	f, err := os.CreateTemp(filepath.Dir(final), "."+filepath.Base(final)+".partial-*")
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", final, err)
	}
	return &Target{File: f, Final: final, TargetOptions: o}, nil
}

// Commit closes the temporary file (after an fsync if asked) and renames
// it to its final name.
func (t *Target) Commit() error {
	if t.TargetOptions.Sync {
		if err := t.File.Sync(); err != nil {
			return fmt.Errorf("%s: sync: %w", t.Name(), err)
		}
	}
	if err := t.Close(); err != nil {
		return fmt.Errorf("%s: %w", t.Name(), err)
	}
	if err := os.Chmod(t.Name(), 0o644); err != nil {
		return err
	}
	if !t.Overwrite {
		// Link fails if final appeared meanwhile: nothing is overwritten.
		if err := os.Link(t.Name(), t.Final); err != nil {
			return fmt.Errorf("%s: %w", t.Final, err)
		}
		t.done = true
		return os.Remove(t.Name())
	}
	if err := os.Rename(t.Name(), t.Final); err != nil {
		return err
	}
	t.done = true
	return nil
}

// MaxWrite caps the bytes of one write to a Target. The kernel gives a
// write a page cache folio as large as the write (up to 2 MiB); in virtual
// machines that hand free memory back to their host, those large folios
// often come back unbacked, and filling them costs the host a fault per page:
// here writes of 1 MiB took 0.2 to 1.5 s per GiB, writes of 256 KiB a steady
// 0.2 s. qemu-img writes a cluster (64 KiB) at a time.
const MaxWrite = 256 << 10

// kickEvery is how many bytes a Target writes between two starts of
// writeback. Starting it as the file grows (without waiting for it) keeps
// the dirty pages few: the kernel writes them while the converter reads
// and inflates, instead of all at once later, when whoever needs them on
// disk must wait (a FALLOC_FL_INSERT_RANGE, an fsync, memory pressure).
const kickEvery = 64 << 20

// WriteAt writes p at off in pieces of at most MaxWrite bytes.
func (t *Target) WriteAt(p []byte, off int64) (int, error) {
	done := 0
	for done < len(p) {
		n, err := t.File.WriteAt(p[done:min(done+MaxWrite, len(p))], off+int64(done))
		done += n
		if err != nil {
			return done, err
		}
	}
	if t.unkickd += int64(done); t.unkickd >= kickEvery {
		t.unkickd = 0
		// Best effort: a file system without it just writes back later.
		_ = unix.SyncFileRange(int(t.Fd()), 0, 0, unix.SYNC_FILE_RANGE_WRITE)
	}
	return done, nil
}

// Abort closes and removes the temporary file unless Commit finished.
func (t *Target) Abort() error {
	if t.done {
		return nil
	}
	t.Close()
	if err := os.Remove(t.Name()); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}
