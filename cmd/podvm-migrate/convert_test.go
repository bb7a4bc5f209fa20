package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConvertDisk(t *testing.T) {
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Fatal("qemu-img is not installed: run 'make deps'")
	}
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
		SourceSHA256   string  `json:"sourceSHA256"`
		TargetSHA256   string  `json:"targetSHA256"`
		Verified       bool    `json:"verified"`
		MBPerSecond    float64 `json:"mbPerSecond"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if r.VirtualBytes != 8<<20 || r.AllocatedBytes == 0 || r.AllocatedBytes >= r.VirtualBytes || !r.Verified || r.SourceSHA256 != r.TargetSHA256 {
		t.Errorf("result %+v", r)
	}
	if out, err := exec.Command("qemu-img", "compare", raw, dst).CombinedOutput(); err != nil {
		t.Errorf("qemu-img compare: %v\n%s", err, out)
	}
	if !strings.Contains(errs, "MB/s") {
		t.Errorf("no progress line on stderr: %q", errs)
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
	}
	for _, args := range cases {
		if _, errs, code := execute(t, args...); code != exitUsage {
			t.Errorf("%v: exit %d (%s), want %d", args, code, errs, exitUsage)
		}
	}
}
