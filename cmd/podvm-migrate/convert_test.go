package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/podvm-migrate/podvm-migrate/internal/testtool"
	"github.com/podvm-migrate/podvm-migrate/testenv/vcsim"
)

func TestConvertDisk(t *testing.T) {
	testtool.Require(t, "qemu-img")
	dir := t.TempDir()
	raw := filepath.Join(dir, "disk.raw")
	if err := os.WriteFile(raw, []byte(strings.Repeat("podvm", 300000)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(raw, 8<<20); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(dir, "disk.vmdk")
	if out, err := exec.Command("qemu-img", "convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=streamOptimized", raw, src).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img: %v\n%s", err, out)
	}
	dst := filepath.Join(dir, "disk.qcow2")
	out, errs, code := execute(t, "convert", "disk", src, dst, "-o", "json", "--verify")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var r struct {
		VirtualBytes   int64   `json:"virtualBytes"`
		AllocatedBytes int64   `json:"allocatedBytes"`
		SourceChecksum string  `json:"sourceChecksum"`
		TargetChecksum string  `json:"targetChecksum"`
		Verified       bool    `json:"verified"`
		MBPerSecond    float64 `json:"mbPerSecond"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if r.VirtualBytes != 8<<20 || r.AllocatedBytes == 0 || r.AllocatedBytes >= r.VirtualBytes || !r.Verified ||
		!strings.HasPrefix(r.SourceChecksum, "sha256-tree:") || r.SourceChecksum != r.TargetChecksum {
		t.Errorf("result %+v", r)
	}
	if out, err := exec.Command("qemu-img", "compare", raw, dst).CombinedOutput(); err != nil {
		t.Errorf("qemu-img compare: %v\n%s", err, out)
	}
	if !strings.Contains(errs, "MB/s") {
		t.Errorf("no progress line on stderr: %q", errs)
	}

	// convert checksum gives the recorded digest for the source, the
	// target and the raw image alike, and --checksum sha256 gives what
	// sha256sum gives for the raw image.
	out, errs, code = execute(t, "convert", "checksum", src, dst, raw, "-o", "json", "--no-progress")
	if code != exitOK {
		t.Fatalf("checksum: exit %d: %s", code, errs)
	}
	var sums []struct {
		Disk     string `json:"disk"`
		Format   string `json:"format"`
		Checksum string `json:"checksum"`
	}
	if err := json.Unmarshal([]byte(out), &sums); err != nil || len(sums) != 3 {
		t.Fatalf("checksum: %v: %s", err, out)
	}
	for _, s := range sums {
		if s.Checksum != r.SourceChecksum {
			t.Errorf("checksum of %s (%s) is %s, convert recorded %s", s.Disk, s.Format, s.Checksum, r.SourceChecksum)
		}
	}
	sha, err := exec.Command("sha256sum", raw).Output()
	if err != nil {
		t.Fatal(err)
	}
	out, errs, code = execute(t, "convert", "checksum", "--checksum", "sha256", dst, "-o", "json", "--no-progress")
	if want := "sha256:" + strings.Fields(string(sha))[0]; code != exitOK || !strings.Contains(out, `"`+want+`"`) {
		t.Errorf("checksum --checksum sha256 of the qcow2: exit %d, %s %s; want %s", code, out, errs, want)
	}
	if _, errs, code = execute(t, "convert", "checksum", "--checksum", "md5", dst); code != exitUsage || !strings.Contains(errs, "sha256-tree") {
		t.Errorf("--checksum md5: exit %d, %q; want a usage error listing the algorithms", code, errs)
	}
	if _, errs, code = execute(t, "convert", "checksum", filepath.Join(dir, "missing.vmdk")); code != exitError || !strings.Contains(errs, "missing.vmdk") {
		t.Errorf("checksum of a missing file: exit %d, %q", code, errs)
	}
	// A cut-short disk: the error names it once, with the offset.
	whole, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(dir, "cut.vmdk")
	if err := os.WriteFile(cut, whole[:len(whole)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, errs, code = execute(t, "convert", "checksum", "--no-progress", cut); code != exitError || strings.Count(errs, "cut.vmdk") != 1 || !strings.Contains(errs, "offset") {
		t.Errorf("checksum of a cut-short VMDK: exit %d, %q; want the file named once, with an offset", code, errs)
	}

	// The target exists: exit 1 without --force, and it is kept.
	before, _ := os.Stat(dst)
	time.Sleep(10 * time.Millisecond)
	if _, errs, code := execute(t, "convert", "disk", src, dst); code != exitError || !strings.Contains(errs, "--force") {
		t.Errorf("existing target: exit %d, %s", code, errs)
	}
	if after, _ := os.Stat(dst); !after.ModTime().Equal(before.ModTime()) {
		t.Error("target changed without --force")
	}
	if _, errs, code := execute(t, "convert", "disk", src, filepath.Join(dir, "disk.raw2"), "--format", "raw", "--force", "-o", "yaml", "--no-progress"); code != exitOK {
		t.Errorf("raw: exit %d: %s", code, errs)
	}
	// Bad input: exit 1, naming the file and offset, no target left.
	bad := filepath.Join(dir, "bad.vmdk")
	b, _ := os.ReadFile(src)
	if err := os.WriteFile(bad, b[:len(b)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, errs, code := execute(t, "convert", "disk", bad, filepath.Join(dir, "bad.qcow2")); code != exitError || !strings.Contains(errs, "bad.vmdk: offset") {
		t.Errorf("truncated source: exit %d, %s", code, errs)
	}
	if _, err := os.Stat(filepath.Join(dir, "bad.qcow2")); err == nil {
		t.Error("failed conversion left its target")
	}
}

func TestConvertDiskUsage(t *testing.T) {
	cases := [][]string{
		{"convert", "disk", "a"},
		{"convert", "disk", "a", "b", "--format", "vhd"},
		{"convert", "disk", "a", "b", "--source-format", "vhdx"},
		{"convert", "disk", "a", "b", "--format", "raw", "--compress"},
		{"convert", "disk", "vm:web01", "b"},
		{"convert", "disk", "[datastore1 web01.vmdk", "b"},
		{"convert", "checksum", "a.vmdk", "ftp://host/b.vmdk"},
	}
	for _, args := range cases {
		if _, errs, code := execute(t, args...); code != exitUsage {
			t.Errorf("%v: exit %d (%s), want %d", args, code, errs, exitUsage)
		}
	}
}

// TestConvertDiskFromDatastore reads a disk of the vCenter simulator by its
// datastore path, over HTTPS verified with the simulator's CA.
func TestConvertDiskFromDatastore(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the vCenter simulator")
	}
	ctx := context.Background()
	v, err := vcsim.Start(ctx, vcsim.Options{VMs: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	dir := t.TempDir()
	pw := filepath.Join(dir, "password")
	if err := os.WriteFile(pw, []byte(v.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dsPath := v.VMs[0].Disks[0]
	dst := filepath.Join(dir, "disk.qcow2")
	out, errs, code := execute(t, "convert", "disk", dsPath, dst, "--url", v.URL.String(), "--username", v.Username,
		"--password-file", pw, "--ca-cert", v.CACertFile, "--datacenter", v.Datacenter, "-o", "json", "--verify")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(out, `"verified": true`) {
		t.Errorf("result %s", out)
	}
	local, err := v.LocalPath(dsPath)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("qemu-img", "compare", local, dst).CombinedOutput(); err != nil {
		t.Errorf("qemu-img compare: %v\n%s", err, out)
	}
	// convert checksum reads the datastore path in one session and gives
	// the digest convert disk recorded.
	var res struct {
		SourceChecksum string `json:"sourceChecksum"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	sums, errs, code := execute(t, "convert", "checksum", dsPath, dst, "--url", v.URL.String(), "--username", v.Username,
		"--password-file", pw, "--ca-cert", v.CACertFile, "--datacenter", v.Datacenter, "-o", "json", "--no-progress")
	if code != exitOK || strings.Count(sums, res.SourceChecksum) != 2 {
		t.Errorf("checksum: exit %d, %s %s; want %s twice", code, sums, errs, res.SourceChecksum)
	}
	// Without a vSphere URL a datastore path is a clear error.
	if _, errs, code := execute(t, "convert", "disk", dsPath, filepath.Join(dir, "x.qcow2")); code != exitError || !strings.Contains(errs, "GOVC_URL") {
		t.Errorf("no --url: exit %d, %s", code, errs)
	}
}
