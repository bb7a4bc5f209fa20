package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podvm-migrate/podvm-migrate/image"
	"github.com/podvm-migrate/podvm-migrate/internal/testtool"
	"github.com/podvm-migrate/podvm-migrate/podvm"
)

func TestImageBuildAndInspect(t *testing.T) {
	testtool.Require(t, "qemu-img")
	dir := t.TempDir()
	raw := filepath.Join(dir, "Web 01.raw")
	if err := os.WriteFile(raw, []byte(strings.Repeat("podvm", 1<<16)), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := podvm.DefaultSpec("web01", 0)
	spec.CPU.Cores = 2
	b, _ := json.Marshal(spec)
	specFile := filepath.Join(dir, "spec.json")
	if err := os.WriteFile(specFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	ref := "oci:" + filepath.Join(dir, "layout") + ":v1"
	cases := []struct {
		args      []string
		wantName  string
		mediaType string
	}{
		{[]string{"image", "build", raw, "--to", ref, "-o", "json"}, "web-01", "application/vnd.oci.image.layer.v1.tar"},
		{[]string{"image", "build", raw, "--spec", specFile, "--to", ref, "-o", "json", "--compress", "zstd"}, "web01", "application/vnd.oci.image.layer.v1.tar+zstd"},
		{[]string{"image", "build", raw, "--to", ref, "-o", "json", "--compress", "gzip"}, "web-01", "application/vnd.oci.image.layer.v1.tar+gzip"},
	}
	for _, c := range cases {
		out, errs, code := execute(t, c.args...)
		if code != exitOK {
			t.Fatalf("%v: exit %d: %s", c.args, code, errs)
		}
		var built image.Info
		if err := json.Unmarshal([]byte(out), &built); err != nil || built.Spec.Name != c.wantName || built.LayerMediaType != c.mediaType {
			t.Fatalf("%v: %v: %s", c.args, err, out)
		}
		out, errs, code = execute(t, "image", "inspect", ref, "-o", "json")
		var got image.Info
		if code != exitOK || json.Unmarshal([]byte(out), &got) != nil {
			t.Fatalf("inspect: exit %d: %s %s", code, errs, out)
		}
		if got.Spec.Name != c.wantName || got.Disks[0].SHA256 != built.Disks[0].SHA256 || got.ManifestDigest != built.ManifestDigest {
			t.Errorf("inspect shows %+v, built %+v", got, built)
		}
	}
}

func TestPodVMCommandUsageErrors(t *testing.T) {
	cases := [][]string{
		{"image", "build", "disk.raw"},
		{"image", "build", "disk.raw", "--to", "nowhere"},
		{"image", "build", "--to", "oci:x:y"},
		{"image", "build", "disk.raw", "--to", "oci:x:y", "--compress", "xz"},
		{"migrate", "plan.yaml", "--compress", "xz"},
		{"image", "inspect"},
		{"run"},
		{"run", "disk.raw", "--accel", "hvf"},
		{"run", "disk.raw", "--publish", "80"},
		{"run", "disk.raw", "--publish", "8080:80/sctp"},
		{"logs"},
		{"stop"},
		{"rm"},
		{"list", "extra"},
	}
	for _, args := range cases {
		_, errs, code := execute(t, args...)
		if code != exitUsage {
			t.Errorf("%v: exit %d (%s), want %d", args, code, errs, exitUsage)
		}
	}
}

// TestImageBuildMissingFolders: image build creates an oci: layout's
// missing parent folders, and its step-by-step detail goes to stderr only
// at --log-level debug.
func TestImageBuildMissingFolders(t *testing.T) {
	testtool.Require(t, "qemu-img")
	dir := t.TempDir()
	raw := filepath.Join(dir, "web01.raw")
	if err := os.WriteFile(raw, []byte(strings.Repeat("podvm", 1<<16)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args   []string
		detail bool // stderr shows the build's steps
	}{
		{nil, false},
		{[]string{"--log-level", "debug"}, true},
	} {
		layout := filepath.Join(dir, fmt.Sprintf("img%v", c.detail), "a")
		args := append([]string{"image", "build", raw, "--to", "oci:" + layout + ":v1"}, c.args...)
		_, errs, code := execute(t, args...)
		if code != exitOK {
			t.Fatalf("%v: exit %d: %s", args, code, errs)
		}
		if _, err := os.Stat(filepath.Join(layout, "index.json")); err != nil {
			t.Errorf("%v: no layout: %v", args, err)
		}
		if got := strings.Contains(errs, "converting"); got != c.detail {
			t.Errorf("%v: stderr %q; want the build's steps: %v", args, errs, c.detail)
		}
	}
}
