package migrate

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podvm-migrate/podvm-migrate/convert/guest"
	"github.com/podvm-migrate/podvm-migrate/plan"
	"github.com/podvm-migrate/podvm-migrate/podvm"
)

// TestConvertGuestDecisions checks what reaches the run record when guest
// conversion is skipped; none of these cases starts libguestfs.
func TestConvertGuestDecisions(t *testing.T) {
	dir := t.TempDir()
	raw := filepath.Join(dir, "fat.raw")
	mbr := make([]byte, 1<<20)
	mbr[446+4], mbr[446+8+1], mbr[446+12+1] = 0x0c, 0x08, 0x08 // one FAT32 LBA partition
	mbr[510], mbr[511] = 0x55, 0xaa
	if err := os.WriteFile(raw, mbr, 0o644); err != nil {
		t.Fatal(err)
	}
	disk := filepath.Join(dir, "fat.qcow2")
	if out, err := exec.Command("qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, disk).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img: %v: %s", err, out)
	}
	for _, tc := range []struct {
		name, mode, family, specMode string
		want, reason                 string
	}{
		{"off by default", "", "linux", podvm.ModeVirtio, "", ""},
		{"never", "never", "linux", podvm.ModeVirtio, "", ""},
		{"auto, boot-only disk", "auto", "linux", podvm.ModeVirtio, "skipped", "FAT"},
		{"auto, compat linux", "auto", "linux", podvm.ModeCompat, "skipped", "compatibility mode"},
		{"always, windows", "always", "windows", podvm.ModeCompat, "skipped", "virtio-win"},
		{"auto, data disk", "auto", "linux", podvm.ModeVirtio, "skipped", "a data disk"},
		{"always, data disk", "always", "linux", podvm.ModeVirtio, "skipped", "a data disk"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &DiskPipeline{GuestConversion: tc.mode, GuestCacheDir: t.TempDir()}
			vm := &plan.PlannedVM{Spec: podvm.Spec{Mode: tc.specMode, Guest: podvm.Guest{Family: tc.family},
				Disks: []podvm.Disk{{Name: "disk0"}, {Name: "disk1"}}}}
			this := vm.Spec.Disks[0]
			if strings.Contains(tc.name, "data disk") {
				this = vm.Spec.Disks[1]
			}
			tr := &TransferResult{Checksum: "before", SourceFormat: "raw"}
			if err := s.convertGuest(context.Background(), vm, this, disk, tr); err != nil {
				t.Fatal(err)
			}
			var got, reason string
			if tr.Guest != nil {
				got, reason = tr.Guest.Result, tr.Guest.Reason
			}
			if got != tc.want || !strings.Contains(reason, tc.reason) || tr.Checksum != "before" || tr.SourceFormat != "raw" {
				t.Errorf("guest conversion %q (%q), sha %s; want %q with a reason mentioning %q", got, reason, tr.Checksum, tc.want, tc.reason)
			}
		})
	}
}

// TestGuestRecordNamesPinnedNICs: the run record says which NIC got which
// name from guest conversion.
func TestGuestRecordNamesPinnedNICs(t *testing.T) {
	g := guestRecord(&guest.Outcome{Decision: guest.Decision{Convert: true}, Result: &guest.Result{
		NICNames: &guest.Pinning{Pinned: []guest.NetName{{Name: "ens192", MAC: "00:50:56:3f:00:12"}}, Rules: guest.NetNamesRules},
	}})
	want := "NIC 00:50:56:3f:00:12 named ens192 (" + guest.NetNamesRules + ")"
	if len(g.Commands) != 1 || g.Commands[0] != want {
		t.Errorf("commands %q, want %q", g.Commands, want)
	}
}
