package migrate

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
