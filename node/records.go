package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/podvm-migrate/podvm-migrate/internal/atomicfile"
)

// record is what the agent keeps about a pod across its own restarts:
// the pod as it was handed over and how often its pod VM was restarted.
// The pod VM itself is runtime's record (pods/VM/pod.json).
type record struct {
	Pod          *corev1.Pod `json:"pod"`
	VM           string      `json:"vm"`
	RestartCount int32       `json:"restartCount"`
}

func (p *Provider) recordDir() string { return filepath.Join(p.cfg.StateDir, "node", p.cfg.NodeName) }

func (p *Provider) saveRecord(r record) error {
	if err := os.MkdirAll(p.recordDir(), 0o755); err != nil {
		return fmt.Errorf("node: record folder: %w", err)
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(p.recordDir(), r.VM+".json")
	if err := atomicfile.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("node: record of pod %s/%s: %w", r.Pod.Namespace, r.Pod.Name, err)
	}
	return nil
}

func (p *Provider) removeRecord(vm string) error {
	err := os.Remove(filepath.Join(p.recordDir(), vm+".json"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("node: record of pod VM %s: %w", vm, err)
	}
	return nil
}

// loadRecords reads every record of this node; an unreadable one is
// logged and skipped.
func (p *Provider) loadRecords() ([]record, error) {
	entries, err := os.ReadDir(p.recordDir())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("node: records %s: %w", p.recordDir(), err)
	}
	var out []record
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		path := filepath.Join(p.recordDir(), e.Name())
		b, err := os.ReadFile(path)
		var r record
		if err == nil {
			err = json.Unmarshal(b, &r)
		}
		if err == nil && r.Pod == nil {
			err = fmt.Errorf("no pod")
		}
		if err != nil {
			p.cfg.Log.Warn("skipping unreadable record", "file", path, "err", err)
			continue
		}
		out = append(out, r)
	}
	return out, nil
}
