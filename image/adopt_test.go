package image

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podvm-migrate/podvm-migrate/internal/testtool"
	"github.com/podvm-migrate/podvm-migrate/testenv/testguest"
)

// dataQcow2 writes a 64 MiB qcow2 at p holding mib MiB of pattern at 1 MiB.
func dataQcow2(t *testing.T, p string, pattern, mib int) {
	t.Helper()
	testtool.Run(t, "qemu-img", "create", "-q", "-f", "qcow2", p, "64M")
	testtool.Run(t, "qemu-io", "-c", fmt.Sprintf("write -P %d 1M %dM", pattern, mib), p)
}

// TestBuildAdoptsDisk builds uncompressed layouts from qcow2 files the
// caller gives up: the biggest becomes the layer in place (its file is
// gone, its bytes start block-aligned in the blob), the others are
// copied, and the image reads back through Unpack and skopeo with every
// disk equal to what was given.
func TestBuildAdoptsDisk(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	keep := filepath.Join(dir, "keep")
	os.Mkdir(keep, 0o755)
	cases := []struct {
		name  string
		disks []string
		big   int // the disk that becomes the layer
	}{
		{"one", []string{"a.qcow2"}, 0},
		{"two", []string{"small.qcow2", "big.qcow2"}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var paths, copies []string
			for i, n := range c.disks {
				p := filepath.Join(dir, c.name+"-"+n)
				mib := 1
				if i == c.big {
					mib = 8
				}
				dataQcow2(t, p, i+1, mib)
				cp := filepath.Join(keep, c.name+"-"+n)
				testtool.Run(t, "cp", p, cp)
				paths, copies = append(paths, p), append(copies, cp)
			}
			ref := "oci:" + filepath.Join(dir, c.name+"-layout") + ":v1"
			built, err := Build(ctx, BuildOptions{Disks: paths, To: ref, WorkDir: dir, Adopt: true,
				Kernel: filepath.Join(testGuest(t), testguest.Vmlinuz)})
			if err != nil {
				t.Fatal(err)
			}
			for i, p := range paths {
				_, err := os.Stat(p)
				if gone := os.IsNotExist(err); gone != (i == c.big) {
					t.Errorf("%s: gone %v after the build (%v); only disk %d should be", filepath.Base(p), gone, err, c.big)
				}
			}
			_, l, err := OpenLocalLayer(ctx, ref, RegistryOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if e, _ := l.Disk(built.Disks[c.big]); e.Offset != adoptAlign {
				t.Errorf("the adopted disk starts at %d in the layer, want %d", e.Offset, adoptAlign)
			}
			if got := "sha256:" + fileSHA256(t, l.Path); got != built.LayerDigest {
				t.Errorf("layer blob hashes to %s, the manifest says %s", got, built.LayerDigest)
			}
			if err := l.Verify(ctx, built); err != nil {
				t.Errorf("verify: %v", err)
			}
			if !l.UnchangedSinceBuild(l.Path) {
				t.Errorf("a blob untouched since the build is not recognised as such")
			}
			out := filepath.Join(t.TempDir(), "unpacked")
			got, err := Unpack(ctx, ref, out, RegistryOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for i, d := range got.Disks {
				qemuCompare(t, filepath.Join(out, filepath.Base(d.File)), copies[i])
				if d.SHA256 != fileSHA256(t, copies[i]) {
					t.Errorf("disk %s records sha256 %s, the file given hashes otherwise", d.Name, d.SHA256)
				}
			}
			checkSkopeo(t, ref, nil, built)
			// A write to the blob since the build: hashed again, and refused.
			f, err := os.OpenFile(l.Path, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteAt([]byte("changed"), adoptAlign+4096)
			f.Close()
			if l.UnchangedSinceBuild(l.Path) {
				t.Errorf("a blob written after the build still counts as unchanged")
			}
			if err := l.Verify(ctx, built); err == nil {
				t.Errorf("verify of a changed disk passed")
			}
		})
	}
}

// TestBuildAdoptGivesBack fails a build after its disk became the layer
// (the kernel to carry is missing): the disk file is back under its name
// with the same bytes, and no layout is left.
func TestBuildAdoptGivesBack(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	p := filepath.Join(dir, "disk.qcow2")
	dataQcow2(t, p, 9, 2)
	want := fileSHA256(t, p)
	layout := filepath.Join(dir, "layout")
	_, err := Build(ctx, BuildOptions{Disks: []string{p}, To: "oci:" + layout + ":v1", WorkDir: dir, Adopt: true,
		Kernel: filepath.Join(dir, "no-such-vmlinuz")})
	if err == nil || !strings.Contains(err.Error(), "no-such-vmlinuz") {
		t.Fatalf("build with a missing kernel: %v", err)
	}
	if got := fileSHA256(t, p); got != want {
		t.Errorf("the disk given back hashes to %s, was %s", got, want)
	}
	if out, err := exec.Command("qemu-img", "check", p).CombinedOutput(); err != nil {
		t.Errorf("qemu-img check of the disk given back: %v: %s", err, out)
	}
	checkNoOutput(t, dir, layout)
}

// TestBuildAdoptSkipsLinkedFile leaves a disk with a second name alone:
// taking it would change what the other name holds.
func TestBuildAdoptSkipsLinkedFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	p := filepath.Join(dir, "disk.qcow2")
	dataQcow2(t, p, 9, 2)
	other := filepath.Join(dir, "other-name.qcow2")
	if err := os.Link(p, other); err != nil {
		t.Fatal(err)
	}
	want := fileSHA256(t, p)
	built, err := Build(ctx, BuildOptions{Disks: []string{p}, To: "oci:" + filepath.Join(dir, "layout") + ":v1", WorkDir: dir, Adopt: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{p, other} {
		if got := fileSHA256(t, n); got != want {
			t.Errorf("%s changed: %s, was %s", filepath.Base(n), got, want)
		}
	}
	if built.Disks[0].SHA256 != want {
		t.Errorf("disk sha256 %s, want %s", built.Disks[0].SHA256, want)
	}
}
