package convert

import (
	"context"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podvm-migrate/podvm-migrate/disksource"
	"github.com/podvm-migrate/podvm-migrate/internal/testtool"
)

// firstGrain returns the file offset of the first allocated grain table
// entry of a hosted sparse VMDK and the grain offset it holds.
func firstGrain(t *testing.T, b []byte) (entryOff int64, grainOff int64) {
	t.Helper()
	le := binary.LittleEndian
	gdOff := int64(le.Uint64(b[56:])) * 512
	if le.Uint64(b[56:]) == ^uint64(0) { // streamOptimized: the footer has it
		gdOff = int64(le.Uint64(b[len(b)-1024+56:])) * 512
	}
	for i := int64(0); ; i++ {
		gt := int64(le.Uint32(b[gdOff+4*i:])) * 512
		if gt == 0 {
			continue
		}
		for j := int64(0); j < 512; j++ {
			if g := le.Uint32(b[gt+4*j:]); g > 1 {
				return gt + 4*j, int64(g) * 512
			}
		}
	}
}

func TestBadInputFailsCleanly(t *testing.T) {
	testtool.Require(t, "qemu-img")
	dir := t.TempDir()
	rawPath := filepath.Join(dir, "disk.raw")
	writeTestRaw(t, rawPath)
	sparse := filepath.Join(dir, "sparse.vmdk")
	stream := filepath.Join(dir, "stream.vmdk")
	testtool.Run(t, "qemu-img", "convert", "-f", "raw", "-O", "vmdk", rawPath, sparse)
	testtool.Run(t, "qemu-img", "convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=streamOptimized", rawPath, stream)
	sparseBytes, _ := os.ReadFile(sparse)
	streamBytes, _ := os.ReadFile(stream)

	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	patched := func(b []byte, off int64, v uint32) []byte {
		c := append([]byte(nil), b...)
		binary.LittleEndian.PutUint32(c[off:], v)
		return c
	}
	gte, _ := firstGrain(t, sparseBytes)
	_, streamGrain := firstGrain(t, streamBytes)
	corrupt := append([]byte(nil), streamBytes...)
	for i := streamGrain + 12 + 2; i < streamGrain+12+200; i++ {
		corrupt[i] ^= 0x5a
	}
	write("flat-a.vmdk", make([]byte, 1<<20))

	cases := []struct {
		name string
		src  string
		want []string // in the error, besides "offset"
	}{
		{"truncated", write("truncated.vmdk", sparseBytes[:len(sparseBytes)/2]), []string{"truncated.vmdk", "truncated"}},
		{"truncated stream", write("truncstream.vmdk", streamBytes[:len(streamBytes)/2]), []string{"truncstream.vmdk"}},
		{"grain past the end", write("pastend.vmdk", patched(sparseBytes, gte, 0x7fffff00)), []string{"pastend.vmdk", "past the end"}},
		{"corrupt deflate", write("corrupt.vmdk", corrupt), []string{"corrupt.vmdk", "corrupt deflate"}},
		{"missing extent", write("missing.vmdk", []byte(descriptor("monolithicFlat", "", `RW 2048 FLAT "gone-flat.vmdk" 0`))), []string{"missing.vmdk", "gone-flat.vmdk", "missing"}},
		{"chain loop", func() string {
			write("loop-b.vmdk", []byte(descriptor("monolithicFlat", "loop-a.vmdk", `RW 2048 FLAT "flat-a.vmdk" 0`)))
			return write("loop-a.vmdk", []byte(descriptor("monolithicFlat", "loop-b.vmdk", `RW 2048 FLAT "flat-a.vmdk" 0`)))
		}(), []string{"loop-", "loops"}},
		{"not a descriptor", write("junk.vmdk", []byte("# Disk DescriptorFile\nthis is not a key value line\n")), []string{"junk.vmdk"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := t.TempDir()
			dst := filepath.Join(out, "out.qcow2")
			_, err := Disk(context.Background(), disksource.File(c.src), dst, DiskOptions{Format: FormatQCOW2, SourceFormat: FormatVMDK})
			if err == nil {
				t.Fatalf("converting %s worked", filepath.Base(c.src))
			}
			t.Log(err)
			for _, w := range append(c.want, "offset") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			left, _ := os.ReadDir(out)
			if len(left) != 0 {
				t.Errorf("failed conversion left %v behind", left)
			}
		})
	}
}

func TestNothingOverwrittenWithoutForce(t *testing.T) {
	testtool.Require(t, "qemu-img")
	dir := t.TempDir()
	src := filepath.Join(dir, "disk.raw")
	writeTestRaw(t, src)
	dst := filepath.Join(dir, "out.raw")
	if err := os.WriteFile(dst, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Disk(context.Background(), disksource.File(src), dst, DiskOptions{Format: FormatRaw}); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("overwrote without --force: %v", err)
	}
	if b, _ := os.ReadFile(dst); string(b) != "keep me" {
		t.Fatalf("target changed: %q", b)
	}
	if _, err := Disk(context.Background(), disksource.File(src), dst, DiskOptions{Format: FormatRaw, Force: true}); err != nil {
		t.Fatal(err)
	}
	qemuCompare(t, src, dst)
	if _, err := Disk(context.Background(), disksource.File(src), src, DiskOptions{Format: FormatRaw, Force: true}); err == nil {
		t.Fatal("converted a file onto itself")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("want only the source and target, got %v", entries)
	}
}

func TestCancelRemovesPartialTarget(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "disk.raw")
	writeTestRaw(t, src)
	ctx, cancel := context.WithCancel(context.Background())
	dst := filepath.Join(dir, "out.qcow2")
	_, err := Disk(ctx, disksource.File(src), dst, DiskOptions{Progress: func(done, total int64) { cancel() }})
	if err == nil {
		t.Fatal("cancelled conversion succeeded")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("cancelled conversion left %v", entries)
	}
}

// TestDiskFullFileSystem converts onto a file system too small for the
// disk (a 4 MiB tmpfs): the error names the destination, not the
// temporary file, says how much was written, and nothing is left behind.
func TestDiskFullFileSystem(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root")
	}
	full := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", full).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", full).Run() })
	src := filepath.Join(t.TempDir(), "disk.raw")
	data := make([]byte, 16<<20)
	for i := range data {
		data[i] = byte(i*7 + i>>9) // not zeros, not one repeated cluster
	}
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(full, "disk.qcow2")
	_, err := Disk(context.Background(), disksource.File(src), dst, DiskOptions{})
	if err == nil || !strings.HasPrefix(err.Error(), dst+": the file system of "+full+" is full") || !strings.Contains(err.Error(), "MiB of the image were written") || strings.Contains(err.Error(), ".partial") {
		t.Errorf("converting 16 MiB onto a 4 MiB file system: %v", err)
	}
	if left, _ := os.ReadDir(full); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
}
