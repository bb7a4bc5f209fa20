package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podvm-migrate/podvm-migrate/discover"
)

// TestDiscoverOfflineEstate: the VMX corpus is inventoried whole (exit 0)
// with warnings on stderr; a file that is not a VMX at all makes the exit
// 1, names it, and still writes the others; --datastore-dir points disks
// at the local copy.
func TestDiscoverOfflineEstate(t *testing.T) {
	t.Setenv("GOVC_URL", "")
	estate := filepath.Join("..", "..", "discover", "vmx", "testdata", "estate")
	unreadable := filepath.Join("..", "..", "discover", "vmx", "testdata", "unreadable")
	files, _ := filepath.Glob(filepath.Join(estate, "*", "*.vmx"))

	out, errs, code := execute(t, "discover", "-o", "json", "--vmx", estate)
	inv, err := discover.Unmarshal([]byte(out))
	if code != exitOK || err != nil || len(inv.VMs) != len(files) {
		t.Fatalf("exit %d, %v, %d VMs of %d files\n%s", code, err, len(inv.VMs), len(files), errs)
	}
	for _, want := range []string{"warning: half-there: scsi0:1: disk ", "half_1.vmdk not found",
		`warning: esx-db: scsi0:1: "/vmfs/volumes/datastore2/esx-db/esx-db_1.vmdk" is on datastore datastore2`} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
	for _, vm := range inv.VMs {
		if vm.Name == "웹서버-01" && len(vm.Warnings) != 0 {
			t.Errorf("windows-949-2000 file: %q", vm.Warnings)
		}
	}

	file := filepath.Join(t.TempDir(), "inv.yaml")
	_, errs, code = execute(t, "discover", "--vmx", estate, "--vmx", unreadable, "--out", file)
	data, rerr := os.ReadFile(file)
	inv, err = discover.Unmarshal(data)
	if code != exitError || rerr != nil || err != nil || len(inv.VMs) != len(files) || !strings.Contains(errs, "binary.vmx") ||
		!strings.Contains(errs, "1 file(s) could not be read") {
		t.Errorf("with an unreadable file: exit %d, %v %v, stderr:\n%s", code, rerr, err, errs)
	}

	copyDir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(copyDir, "esx-db"), 0o755); err != nil {
		t.Fatal(err)
	}
	desc := "# Disk DescriptorFile\nversion=1\ncreateType=\"vmfs\"\nRW 4096 VMFS \"esx-db_1-flat.vmdk\"\n"
	if err := os.WriteFile(filepath.Join(copyDir, "esx-db", "esx-db_1.vmdk"), []byte(desc), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errs, code = execute(t, "discover", "-o", "json", "--vmx", filepath.Join(estate, "esxi"), "--datastore-dir", "datastore2="+copyDir)
	inv, err = discover.Unmarshal([]byte(out))
	if code != exitOK || err != nil || len(inv.VMs) != 1 {
		t.Fatalf("--datastore-dir: exit %d, %v\n%s", code, err, errs)
	}
	if d := inv.VMs[0].Hardware.Disks[1]; d.File != filepath.Join(copyDir, "esx-db", "esx-db_1.vmdk") || d.CapacityBytes != 4096*512 || d.Datastore != "datastore2" {
		t.Errorf("mapped disk %+v", d)
	}
}

func TestDiscoverOfflineUsageErrors(t *testing.T) {
	t.Setenv("GOVC_URL", "")
	notDir := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(notDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"discover", "--vmx", "x", "--datastore-dir", "nodelimiter"},
		{"discover", "--vmx", "x", "--datastore-dir", "=dir"},
		{"discover", "--vmx", "x", "--datastore-dir", "ds1=" + notDir},
	} {
		if _, errs, code := execute(t, args...); code != exitUsage || !strings.Contains(errs, "--datastore-dir") {
			t.Errorf("%v: exit %d (%s), want %d", args, code, errs, exitUsage)
		}
	}
}
