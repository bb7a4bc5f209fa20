package reports

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/podvm-migrate/podvm-migrate/migrate"
	"github.com/podvm-migrate/podvm-migrate/podvm"
)

func TestGuestConversionInReports(t *testing.T) {
	now := time.Now()
	events := []migrate.Event{
		{Time: now, VM: "debian12", Disk: "disk0", Phase: migrate.PhaseTransfer, Result: migrate.ResultDone, Bytes: 1 << 20, Duration: time.Minute,
			Attrs: map[string]string{"guestConversion": "converted", "guestConversionSeconds": "245.3", "guestInspected": "linux debian 12.15 (debian12, root /dev/sda1)",
				"guestRemoved": "open-vm-tools", "guestInitramfsModules": "virtio; virtio_blk", "guestFirstBoot": "install qemu-guest-agent"}},
		{Time: now, VM: "web", Disk: "disk0", Phase: migrate.PhaseTransfer, Result: migrate.ResultDone, Bytes: 1 << 20, Duration: time.Second,
			Attrs: map[string]string{"guestConversion": "skipped", "guestConversionReason": "only FAT/EFI partitions"}},
		{Time: now, VM: "db", Disk: "disk0", Phase: migrate.PhaseTransfer, Result: migrate.ResultDone, Bytes: 1 << 20, Duration: time.Second},
	}
	r := Build("guest conversion", &podvm.Plan{}, events, now)
	gs := r.GuestConversions()
	if len(gs) != 2 || gs[0].VM != "debian12" || gs[0].Removed != "open-vm-tools" || gs[1].Result != "skipped" {
		t.Fatalf("GuestConversions = %+v", gs)
	}
	for _, format := range []string{"md", "html"} {
		var b bytes.Buffer
		if err := Render(&b, r, format); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"Guest conversion", "open-vm-tools", "virtio_blk", "only FAT/EFI partitions"} {
			if !strings.Contains(b.String(), want) {
				t.Errorf("%s report lacks %q", format, want)
			}
		}
	}
}
