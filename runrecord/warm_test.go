package runrecord

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestWarmEventsRoundTrip journals a precopy round and a cutover and reads
// them back with their facts, under the names reports and resumes use.
func TestWarmEventsRoundTrip(t *testing.T) {
	dir := t.TempDir()
	j, err := OpenJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 6, 1, 0, 0, 0, time.UTC)
	pre := Precopy{Round: 2, ChangeID: "52 aa/4", Since: "52 aa/2", Target: "/run/disks/web/disk0.qcow2", Areas: 7, Snapshot: "snapshot-9"}
	co := Cutover{Reason: "request", ShutdownAt: at, Shutdown: "guest shut down", Rounds: 2, Final: 1 << 20}
	for _, e := range []Event{
		{VM: "web", Disk: "disk0", Phase: PhasePrecopy, Result: ResultDone, Bytes: 4096, Precopy: &pre},
		{VM: "web", Phase: PhaseCutover, Result: ResultDone, Cutover: &co},
	} {
		if err := j.Append(e); err != nil {
			t.Fatal(err)
		}
	}
	j.Close()
	raw, _ := os.ReadFile(filepath.Join(dir, JournalFile))
	for _, k := range []string{`"precopy":{"round":2,"changeId":"52 aa/4"`, `"cutover":{"reason":"request","shutdownAt":"2026-12-06T01:00:00Z"`} {
		if !strings.Contains(string(raw), k) {
			t.Errorf("journal lacks %s:\n%s", k, raw)
		}
	}
	events, err := ReadJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 2 || events[0].Precopy == nil || *events[0].Precopy != pre || events[1].Cutover == nil || *events[1].Cutover != co {
		t.Fatalf("read back %+v", events)
	}
}
