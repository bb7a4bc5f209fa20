package image

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podvm-migrate/podvm-migrate/testenv/testguest"
)

// TestLocalLayerInPlace finds the disks of an uncompressed layout in its
// layer blob, verifies them there, and refuses a disk whose bytes changed
// after packaging, naming it.
func TestLocalLayerInPlace(t *testing.T) {
	g := testGuest(t)
	ctx := context.Background()
	dir := t.TempDir()
	qcow := filepath.Join(dir, "guest.qcow2")
	if out, err := exec.Command("qemu-img", "convert", "-O", "qcow2", filepath.Join(g, testguest.Raw), qcow).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img: %v: %s", err, out)
	}
	cases := []struct {
		name     string
		compress Compression
		inPlace  bool
	}{
		{"none", CompressNone, true},
		{"gzip", CompressGzip, false},
		{"zstd", CompressZstd, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ref := "oci:" + filepath.Join(dir, c.name) + ":v1"
			built, err := Build(ctx, BuildOptions{Disks: []string{qcow}, To: ref, Compress: c.compress, WorkDir: dir,
				Kernel: filepath.Join(g, testguest.Vmlinuz)})
			if err != nil {
				t.Fatal(err)
			}
			_, l, err := OpenLocalLayer(ctx, ref, RegistryOptions{})
			if !c.inPlace {
				if !errors.Is(err, ErrNotInPlace) {
					t.Errorf("error %v, want ErrNotInPlace", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			e, err := l.Disk(built.Disks[0])
			if err != nil {
				t.Fatal(err)
			}
			if e.Offset%512 != 0 || e.Size != built.Disks[0].SizeBytes {
				t.Errorf("disk extent %+v", e)
			}
			if err := l.Verify(ctx, built); err != nil {
				t.Fatal(err)
			}
			kernel := filepath.Join(t.TempDir(), "vmlinuz")
			if err := l.Extract(ctx, built.Boot.Kernel, kernel, built.Boot.KernelSHA256); err != nil {
				t.Fatal(err)
			}
			// One byte of the disk changed in the blob: refused, naming the disk.
			f, err := os.OpenFile(l.Path, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt([]byte{0xff}, e.Offset+e.Size/2); err != nil {
				t.Fatal(err)
			}
			f.Close()
			err = l.Verify(ctx, built)
			if err == nil || !strings.Contains(err.Error(), "disk disk0 (disk/disk0.qcow2)") {
				t.Errorf("verify of a changed disk: %v", err)
			}
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			if err := l.Verify(cctx, built); !errors.Is(err, context.Canceled) {
				t.Errorf("cancelled verify: %v", err)
			}
		})
	}
	if _, _, err := OpenLocalLayer(ctx, "docker://localhost:1/x:y", RegistryOptions{}); !errors.Is(err, ErrNotInPlace) {
		t.Errorf("registry image: %v, want ErrNotInPlace", err)
	}
}
