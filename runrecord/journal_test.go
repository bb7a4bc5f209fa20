package runrecord

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestJournalSurvivesATornLine(t *testing.T) {
	dir := t.TempDir()
	j, err := OpenJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range []string{PhaseTransfer, PhaseConvert} {
		if err := j.Append(Event{VM: "web01", Disk: "disk0", Phase: p, Result: ResultDone, Bytes: int64(i + 1), Duration: time.Second}); err != nil {
			t.Fatal(err)
		}
	}
	j.Close()
	// A crash mid-write leaves half a line.
	f, _ := os.OpenFile(filepath.Join(dir, JournalFile), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"vm":"web01","phase":"pack`)
	f.Close()

	events, err := ReadJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 2 || events[1].Phase != PhaseConvert || events[1].Bytes != 2 || events[0].Time.IsZero() {
		t.Fatalf("events %+v", events)
	}
	// Reopening cuts the torn tail, and new events follow on their own line.
	j, err = OpenJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Append(Event{VM: "web01", Phase: PhasePackage, Result: ResultStarted}); err != nil {
		t.Fatal(err)
	}
	j.Close()
	events, err = ReadJournal(dir)
	if err != nil || len(events) != 3 || events[2].Phase != PhasePackage {
		t.Fatalf("after reopen: %+v, %v", events, err)
	}
}

func TestReadJournalErrors(t *testing.T) {
	if _, err := ReadJournal(t.TempDir()); err == nil || !strings.Contains(err.Error(), "run directory") {
		t.Errorf("missing journal: %v", err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, JournalFile), []byte("{\"phase\":\"x\"}\nnot json\n{}\n"), 0o644)
	if _, err := ReadJournal(dir); err == nil || !strings.Contains(err.Error(), JournalFile+":2:") {
		t.Errorf("corrupt line: %v", err)
	}
}

// TestReadJournalUpgradesAttrs: journals written before the typed fields
// kept transfer, package and boot facts in attrs; they are read into the
// fields, so older run directories still resume and report.
func TestReadJournalUpgradesAttrs(t *testing.T) {
	dir := t.TempDir()
	lines := `{"time":"2026-11-23T10:00:00Z","vm":"web01","disk":"disk0","phase":"transfer","result":"started","attrs":{"source":"[ds1] web01/web01.vmdk"}}
{"time":"2026-11-23T10:00:04Z","vm":"web01","disk":"disk0","phase":"transfer","result":"done","bytes":5,"attrs":{"source":"[ds1] web01/web01.vmdk","target":"run/disks/web01/disk0.qcow2","checksum":"sha256-tree:ab","virtualBytes":"1073741824","writtenBytes":"7","sourceFormat":"vmdk/monolithicSparse","guestConversion":"converted","guestConversionSeconds":"61.5","guestRemoved":"open-vm-tools; vmware-tools","note":"kept"}}
{"time":"2026-11-23T10:00:05Z","vm":"web01","phase":"package","result":"done","attrs":{"ref":"oci:run/images/web01:latest","digest":"sha256:cd","checksums":"sha256-tree:ab,sha256-tree:ef","spec":"0123"}}
{"time":"2026-11-23T10:00:06Z","vm":"web01","phase":"ready","result":"done","attrs":{"accel":"tcg"}}
`
	if err := os.WriteFile(filepath.Join(dir, JournalFile), []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	events, err := ReadJournal(dir)
	if err != nil || len(events) != 4 {
		t.Fatalf("%d events, %v", len(events), err)
	}
	if tr := events[0].Transfer; tr == nil || tr.Source != "[ds1] web01/web01.vmdk" || events[0].Attrs != nil {
		t.Errorf("started transfer: %+v, attrs %v", tr, events[0].Attrs)
	}
	tr := events[1].Transfer
	if tr == nil || tr.Checksum != "sha256-tree:ab" || tr.VirtualBytes != 1<<30 || tr.WrittenBytes != 7 || tr.SourceFormat != "vmdk/monolithicSparse" ||
		tr.Guest == nil || tr.Guest.Result != GuestConverted || tr.Guest.Seconds != 61.5 || strings.Join(tr.Guest.Removed, "|") != "open-vm-tools|vmware-tools" {
		t.Errorf("done transfer: %+v (guest %+v)", tr, tr.Guest)
	}
	if events[1].Attrs["note"] != "kept" || len(events[1].Attrs) != 1 {
		t.Errorf("attrs without a field of their own: %v", events[1].Attrs)
	}
	if p := events[2].Package; p == nil || p.Digest != "sha256:cd" || len(p.Checksums) != 2 || p.Spec != "0123" || p.Ref != "oci:run/images/web01:latest" {
		t.Errorf("package: %+v", p)
	}
	if events[3].Accel != "tcg" {
		t.Errorf("ready accel %q", events[3].Accel)
	}
}

func TestCheckFactRoundTrips(t *testing.T) {
	dir := t.TempDir()
	j, err := OpenJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := Check{Check: "http://:8080/health=200", Outcome: CheckFailed, Target: "http://127.0.0.1:40123/health",
		Address: "user networking via 127.0.0.1 (40123->8080)", Detail: "status 503, want 200", Attempts: 7}
	if err := j.Append(Event{VM: "web01", Phase: PhaseCheck, Result: ResultFailed, Error: want.Detail, Check: &want}); err != nil {
		t.Fatal(err)
	}
	j.Close()
	b, _ := os.ReadFile(filepath.Join(dir, JournalFile))
	if !strings.Contains(string(b), `"check":{"check":"http://:8080/health=200","outcome":"failed"`) {
		t.Errorf("journal line %s", b)
	}
	events, err := ReadJournal(dir)
	if err != nil || len(events) != 1 || events[0].Check == nil || *events[0].Check != want {
		t.Fatalf("%+v, %v", events, err)
	}
}
