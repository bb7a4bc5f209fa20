package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConvertAndChecksumRefuseDescriptorEscapes runs convert disk and
// convert checksum on descriptors whose extent leaves their folder: both
// fail naming the descriptor, the line, the path and --allow-path, leave no
// target, and read the disk once --allow-path allows that folder.
func TestConvertAndChecksumRefuseDescriptorEscapes(t *testing.T) {
	root := t.TempDir()
	vm, outside := filepath.Join(root, "vm"), filepath.Join(root, "outside")
	for _, d := range []string{vm, outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	secret := filepath.Join(outside, "secret.raw")
	if err := os.WriteFile(secret, bytes.Repeat([]byte("secret"), 2048*512/6+1)[:2048*512], 0o644); err != nil {
		t.Fatal(err)
	}
	descriptor := func(name, extent string) string {
		t.Helper()
		p := filepath.Join(vm, name)
		text := fmt.Sprintf("# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType=\"monolithicFlat\"\n\n# Extent description\nRW 2048 FLAT \"%s\" 0\n", extent)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name, extent string
	}{
		{"dotdot.vmdk", "../outside/secret.raw"},
		{"absolute.vmdk", secret},
	}
	for _, c := range cases {
		src := descriptor(c.name, c.extent)
		t.Run(c.name, func(t *testing.T) {
			out := t.TempDir()
			dst := filepath.Join(out, "disk.qcow2")
			for _, args := range [][]string{
				{"convert", "disk", "--no-progress", src, dst},
				{"convert", "checksum", "--no-progress", src},
			} {
				_, errs, code := execute(t, args...)
				if code != exitError {
					t.Errorf("%s: exit %d, want %d", strings.Join(args[:2], " "), code, exitError)
				}
				for _, w := range []string{src + ": line 8: extent file", c.extent, "refused: outside the descriptor's folder", "--allow-path DIR"} {
					if !strings.Contains(errs, w) {
						t.Errorf("%s: stderr %q does not say %q", strings.Join(args[:2], " "), errs, w)
					}
				}
			}
			if left, _ := os.ReadDir(out); len(left) != 0 {
				t.Errorf("refused conversion left %v", left)
			}
			// Allowed, both read the outside file, and agree.
			got, errs, code := execute(t, "convert", "disk", "--no-progress", "--allow-path", outside, "-o", "json", src, dst)
			if code != exitOK {
				t.Fatalf("convert disk --allow-path: exit %d: %s", code, errs)
			}
			sum, errs, code := execute(t, "convert", "checksum", "--no-progress", "--allow-path", outside, "-o", "json", src)
			if code != exitOK {
				t.Fatalf("convert checksum --allow-path: exit %d: %s", code, errs)
			}
			var r struct {
				SourceChecksum string `json:"sourceChecksum"`
			}
			var sums []struct {
				Checksum string `json:"checksum"`
			}
			if err := json.Unmarshal([]byte(got), &r); err != nil {
				t.Fatalf("%v: %s", err, got)
			}
			if err := json.Unmarshal([]byte(sum), &sums); err != nil || len(sums) != 1 {
				t.Fatalf("%v: %s", err, sum)
			}
			if r.SourceChecksum == "" || r.SourceChecksum != sums[0].Checksum {
				t.Errorf("convert disk recorded %q, convert checksum printed %q", r.SourceChecksum, sums[0].Checksum)
			}
		})
	}
	if _, _, code := execute(t, "convert", "checksum", "--allow-path", filepath.Join(root, "nowhere"), descriptor("x.vmdk", "x")); code != exitUsage {
		t.Errorf("--allow-path to a missing folder: exit %d, want %d", code, exitUsage)
	}
}
