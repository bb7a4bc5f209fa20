package reports

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/podvm-migrate/podvm-migrate/plan"
	"github.com/podvm-migrate/podvm-migrate/runrecord"
)

func TestGuestConversionInReports(t *testing.T) {
	now := time.Now()
	events := []runrecord.Event{
		{Time: now, VM: "debian12", Disk: "disk0", Phase: runrecord.PhaseTransfer, Result: runrecord.ResultDone, Bytes: 1 << 20, Duration: time.Minute,
			Transfer: &runrecord.Transfer{Source: "debian12.vmdk", Guest: &runrecord.GuestConversion{Result: "converted", Seconds: 245.3,
				Inspected: "linux debian 12.15 (debian12, root /dev/sda1)", Removed: []string{"open-vm-tools"},
				InitramfsModules: []string{"virtio", "virtio_blk"}, FirstBoot: []string{"install qemu-guest-agent"}}}},
		{Time: now, VM: "web", Disk: "disk0", Phase: runrecord.PhaseTransfer, Result: runrecord.ResultDone, Bytes: 1 << 20, Duration: time.Second,
			Transfer: &runrecord.Transfer{Source: "web.vmdk", Guest: &runrecord.GuestConversion{Result: "skipped", Reason: "only FAT/EFI partitions"}}},
		{Time: now, VM: "db", Disk: "disk0", Phase: runrecord.PhaseTransfer, Result: runrecord.ResultDone, Bytes: 1 << 20, Duration: time.Second},
	}
	r := Build("guest conversion", &plan.Plan{}, events, now)
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
