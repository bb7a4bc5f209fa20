package image

import (
	"bytes"
	"context"
	"maps"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/podvm-migrate/podvm-migrate/convert"
	"github.com/podvm-migrate/podvm-migrate/disksource"
	"github.com/podvm-migrate/podvm-migrate/internal/testtool"
	"github.com/podvm-migrate/podvm-migrate/testenv/registry"
	"github.com/podvm-migrate/podvm-migrate/testenv/testguest"

	digest "github.com/opencontainers/go-digest"
)

// TestBuildTakesLayerHash: a disk the converter hashed as it wrote it
// (LayerHash) becomes the layer without being read again, and the layer's
// digest is still right: the blob hashes to it, skopeo and Unpack accept
// the image, and Verify of a blob changed since checks the whole layer and
// refuses it. A record that no longer matches its file (written since, or
// made for another disk name) is ignored and the file hashed as before.
func TestBuildTakesLayerHash(t *testing.T) {
	testtool.Require(t, "qemu-img", "qemu-io")
	ctx := context.Background()
	dir := t.TempDir()
	raw := filepath.Join(dir, "source.raw")
	testtool.Run(t, "qemu-img", "create", "-q", "-f", "raw", raw, "48M")
	testtool.Run(t, "qemu-io", "-f", "raw", "-c", "write -P 7 1M 5M", "-c", "write -P 0 8M 1M", "-c", "write -P 9 40M 3M", raw)

	cases := []struct {
		name   string
		record string                       // the disk name the hash is made for
		after  func(t *testing.T, p string) // what happens to the file after Save
		saved  bool                         // whether Build takes the record
	}{
		{"taken", "disk0", nil, true},
		{"written since", "disk0", func(t *testing.T, p string) {
			time.Sleep(20 * time.Millisecond) // past the file system's timestamp tick
			testtool.Run(t, "qemu-io", "-c", "write -P 3 2M 64k", p)
		}, false},
		{"written, times put back", "disk0", func(t *testing.T, p string) {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(20 * time.Millisecond)
			testtool.Run(t, "qemu-io", "-c", "write -P 3 2M 64k", p)
			if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"another disk", "disk1", nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "disk0.qcow2")
			lh := NewLayerHash(c.record)
			if _, err := convert.Disk(ctx, disksource.File(raw), p, convert.DiskOptions{Tee: lh.Tee}); err != nil {
				t.Fatal(err)
			}
			if err := lh.Save(p); err != nil {
				t.Fatal(err)
			}
			if c.after != nil {
				c.after(t, p)
			}
			want := filepath.Join(dir, c.name+".qcow2")
			testtool.Run(t, "cp", p, want)
			ref := "oci:" + filepath.Join(dir, c.name+"-layout") + ":v1"
			built, err := Build(ctx, BuildOptions{Disks: []string{p}, To: ref, WorkDir: dir, Adopt: true})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(layerHashFile(p)); !os.IsNotExist(err) {
				t.Errorf("the record outlived the adoption: %v", err)
			}
			if taken := built.Disks[0].SHA256 == ""; taken != c.saved {
				t.Errorf("record taken: %v, want %v (disk sha256 %q)", taken, c.saved, built.Disks[0].SHA256)
			}
			_, l, err := OpenLocalLayer(ctx, ref, RegistryOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got := "sha256:" + fileSHA256(t, l.Path); got != built.LayerDigest {
				t.Fatalf("layer blob hashes to %s, the manifest says %s", got, built.LayerDigest)
			}
			if err := l.Verify(ctx, built); err != nil {
				t.Errorf("verify: %v", err)
			}
			checkSkopeo(t, ref, nil, built)
			// Taking a file out of the layer in place needs a digest of its own.
			if err := l.Extract(ctx, built.Disks[0].File, filepath.Join(t.TempDir(), "x"), ""); err == nil {
				t.Errorf("a file was extracted without a digest to check")
			}
			out := filepath.Join(t.TempDir(), "unpacked")
			if _, err := Unpack(ctx, ref, out, RegistryOptions{}); err != nil {
				t.Fatal(err)
			}
			qemuCompare(t, filepath.Join(out, "disk0.qcow2"), want)
			testtool.Run(t, "qemu-img", "check", filepath.Join(out, "disk0.qcow2"))
			f, err := os.OpenFile(l.Path, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteAt([]byte("changed"), adoptAlign+2<<20)
			f.Close()
			if err := l.Verify(ctx, built); err == nil {
				t.Errorf("verify of a changed blob passed")
			}
		})
	}
}

// TestLayerHashWithoutTee: a conversion that could not hash the file as it
// wrote it (a compressed target never calls the Tee) saves no record and
// removes a stale one.
func TestLayerHashWithoutTee(t *testing.T) {
	testtool.Require(t, "qemu-img")
	ctx := context.Background()
	dir := t.TempDir()
	raw := filepath.Join(dir, "source.raw")
	testtool.Run(t, "qemu-img", "create", "-q", "-f", "raw", raw, "8M")
	p := filepath.Join(dir, "disk0.qcow2")
	if err := os.WriteFile(layerHashFile(p), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	lh := NewLayerHash("disk0")
	if _, err := convert.Disk(ctx, disksource.File(raw), p, convert.DiskOptions{Tee: lh.Tee, Compress: true}); err != nil {
		t.Fatal(err)
	}
	if err := lh.Save(p); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(layerHashFile(p)); !os.IsNotExist(err) {
		t.Errorf("a record is left beside a disk nobody hashed: %v", err)
	}
}

// TestLayerHashImageThroughRegistry copies an image whose disk the layer
// digest checks from its layout to the local registry with skopeo, and
// pulls it back: the registry and skopeo take the blob by its digest, and
// Unpack accepts the disk on the layer's word alone.
func TestLayerHashImageThroughRegistry(t *testing.T) {
	testtool.Require(t, "qemu-img", "skopeo")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	reg, err := registry.Start(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Stop)
	dir := t.TempDir()
	src := filepath.Join(testGuest(t), testguest.VMDK)
	layout := "oci:" + filepath.Join(dir, "layout") + ":v1"
	built, err := Build(ctx, BuildOptions{Disks: []string{src}, To: layout, WorkDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if built.Disks[0].SHA256 != "" {
		t.Fatalf("the converted disk records sha256 %s: its layer digest was not computed as it was written", built.Disks[0].SHA256)
	}
	ref := reg.Ref("podvm/layerhash:v1")
	testtool.Run(t, "skopeo", "copy", "--dest-tls-verify=false", layout, ref)
	insecure := false
	ro := RegistryOptions{TLSVerify: &insecure}
	got, err := Inspect(ctx, ref, ro)
	if err != nil {
		t.Fatal(err)
	}
	// skopeo compresses the layer for the registry: its uncompressed
	// digest (the diffID) is still the one computed while converting.
	if got.LayerDiffID != built.LayerDigest || got.Disks[0].SHA256 != "" {
		t.Errorf("the registry holds layer %s (diffID %s), disks %+v; want diffID %s", got.LayerDigest, got.LayerDiffID, got.Disks, built.LayerDigest)
	}
	un := filepath.Join(t.TempDir(), "pulled")
	if _, err := Unpack(ctx, ref, un, ro); err != nil {
		t.Fatal(err)
	}
	qemuCompare(t, filepath.Join(un, "disk0.qcow2"), src)
}

// TestExtractChecksDiffID: a layer whose uncompressed tar is not the one
// the image records is refused when a disk relies on the layer's digest.
func TestExtractChecksDiffID(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "d.qcow2")
	dataQcow2(t, p, 5, 1)
	var layer bytes.Buffer
	res, err := writeLayer(context.Background(), &layer, CompressGzip, []layerDisk{{name: "disk0", path: p, virtualSize: 64 << 20}}, nil, layerModTime())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]extractFile{res.disks[0].File: {dst: "disk0.qcow2", layerChecked: true}}
	for _, c := range []struct {
		diffID digest.Digest
		ok     bool
	}{{res.diffID, true}, {digest.FromString("another tar"), false}} {
		out := t.TempDir()
		err := extractFiles(context.Background(), bytes.NewReader(layer.Bytes()), out, maps.Clone(want), c.diffID)
		if (err == nil) != c.ok {
			t.Errorf("diffID %s: error %v, want ok=%v", c.diffID, err, c.ok)
		}
	}
}
