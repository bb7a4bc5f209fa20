package runrecord

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// JournalFile is the journal's name inside a run directory.
const JournalFile = "events.jsonl"

// Journal appends events to a run directory's journal. Each event is one
// JSON line written with a single write and synced, so a crash loses at
// most the line being written, and ReadJournal skips a torn last line.
type Journal struct {
	mu  sync.Mutex
	f   *os.File
	now func() time.Time
}

// OpenJournal opens (creating if needed) the journal in runDir for appending.
func OpenJournal(runDir string) (*Journal, error) {
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		return nil, fmt.Errorf("run directory: %w", err)
	}
	path := filepath.Join(runDir, JournalFile)
	if err := repairTornTail(path); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	return &Journal{f: f, now: time.Now}, nil
}

// Append writes one event, stamping its time when unset.
func (j *Journal) Append(e Event) error {
	if e.Time.IsZero() {
		e.Time = j.now().UTC()
	}
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	b = append(b, '\n')
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, err := j.f.Write(b); err != nil {
		return fmt.Errorf("journal %s: %w", j.f.Name(), err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("journal %s: %w", j.f.Name(), err)
	}
	return nil
}

// Close closes the journal file.
func (j *Journal) Close() error { return j.f.Close() }

// ReadJournal reads every complete event of a run directory's journal. A
// last line without its newline (a crash mid-write) is ignored; a bad line
// elsewhere is an error naming its line number.
func ReadJournal(runDir string) ([]Event, error) {
	path := filepath.Join(runDir, JournalFile)
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("run record: %w (is %s a run directory of 'podvm-migrate migrate'?)", err, runDir)
	}
	defer f.Close()
	var events []Event
	r := bufio.NewReader(f)
	for line := 1; ; line++ {
		b, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			return events, nil // a torn last line has no newline: skip it
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		var e Event
		if err := json.Unmarshal(b, &e); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		upgrade(&e)
		events = append(events, e)
	}
}

// repairTornTail cuts a last line that lacks its newline, so the next
// append starts on a fresh line.
func repairTornTail(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.Size() == 0 {
		return err
	}
	// Look back for the last newline, in blocks.
	const block = 4096
	end := st.Size()
	buf := make([]byte, block)
	for off := end; off > 0; {
		n := int64(block)
		if off < n {
			n = off
		}
		off -= n
		if _, err := f.ReadAt(buf[:n], off); err != nil {
			return fmt.Errorf("journal %s: %w", path, err)
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			if cut := off + int64(i) + 1; cut != end {
				return f.Truncate(cut)
			}
			return nil
		}
	}
	return f.Truncate(0)
}

// PlanFile is the plan's name inside a run directory: migrate keeps a copy
// of the plan it ran there (a run directory belongs to one plan), and
// reports pair the journal with it.
const PlanFile = "plan.yaml"
