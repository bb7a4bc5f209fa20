package image

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/podvm-migrate/podvm-migrate/internal/testtool"
	"github.com/podvm-migrate/podvm-migrate/testenv/testguest"
)

// TestBuildConvertsInsideLayout: a disk that needs converting is converted
// on the layout's file system, not in the temp folder, and becomes the
// layer by a rename: the build works with an unusable $TMPDIR (standing in
// for a /tmp too small for the disk), says the layer was taken in place,
// and leaves no work folder in the layout.
func TestBuildConvertsInsideLayout(t *testing.T) {
	testtool.Require(t, "qemu-img")
	raw := filepath.Join(testGuest(t), testguest.Raw)
	dir := t.TempDir()
	layout := filepath.Join(dir, "layout")
	notADir := filepath.Join(dir, "tmp-is-a-file")
	if err := os.WriteFile(notADir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", notADir)
	var mu sync.Mutex
	var logged []string
	built, err := Build(context.Background(), BuildOptions{Disks: []string{raw}, To: "oci:" + layout + ":v1",
		Log: func(f string, a ...any) {
			mu.Lock()
			defer mu.Unlock()
			logged = append(logged, f)
		}})
	if err != nil {
		t.Fatalf("build with an unusable $TMPDIR: %v", err)
	}
	if !strings.Contains(strings.Join(logged, "\n"), "became the layer in place") {
		t.Errorf("the converted disk was copied into the layer, not renamed; log: %q", logged)
	}
	entries, err := os.ReadDir(layout)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("layout keeps %s after the build", e.Name())
		}
	}
	got, err := Inspect(context.Background(), "oci:"+layout+":v1", RegistryOptions{})
	if err != nil || got.LayerDigest != built.LayerDigest {
		t.Fatalf("inspect: %+v, %v; built layer %s", got, err, built.LayerDigest)
	}
	un := filepath.Join(dir, "unpacked")
	if _, err := Unpack(context.Background(), "oci:"+layout+":v1", un, RegistryOptions{}); err != nil {
		t.Fatal(err)
	}
	testtool.Run(t, "qemu-img", "compare", "-q", raw, filepath.Join(un, built.Disks[0].Name+".qcow2"))
}

// TestBuildLayoutParents: an oci: layout whose parent folders are missing
// is written after creating them; a build that fails takes away the
// folders it created and keeps those that were there.
func TestBuildLayoutParents(t *testing.T) {
	testtool.Require(t, "qemu-img")
	raw := filepath.Join(testGuest(t), testguest.Raw)
	dir := t.TempDir()
	ctx := context.Background()

	ref := "oci:" + filepath.Join(dir, "a", "b", "layout") + ":v1"
	if _, err := Build(ctx, BuildOptions{Disks: []string{raw}, To: ref}); err != nil {
		t.Fatalf("build into missing folders: %v", err)
	}
	if _, err := Inspect(ctx, ref, RegistryOptions{}); err != nil {
		t.Fatalf("inspect %s: %v", ref, err)
	}

	failing := "oci:" + filepath.Join(dir, "a", "c", "d", "layout") + ":v1"
	if _, err := Build(ctx, BuildOptions{Disks: []string{filepath.Join(dir, "nope.raw")}, To: failing}); err == nil {
		t.Fatal("build of a missing disk worked")
	}
	if _, err := os.Stat(filepath.Join(dir, "a", "c")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("failed build left the folders it made: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "a", "b", "layout", "index.json")); err != nil {
		t.Errorf("failed build touched what was there: %v", err)
	}

	var re *RefError
	if _, err := Build(ctx, BuildOptions{Disks: []string{raw}, To: "oci:" + filepath.Join(dir, "e", "layout") + ":bad tag!"}); !errors.As(err, &re) {
		t.Errorf("bad tag: %v, want a RefError", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "e")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a bad reference left folders: %v", err)
	}
	if _, err := ParseRef("oci:" + filepath.Join(dir, "x", "layout") + ":v1"); err == nil || errors.As(err, &re) {
		t.Errorf("reading a layout under a missing folder: %v, want an error that is not a bad reference", err)
	}
}
