package discover

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// partialSource returns its VMs and an UnreadableFiles, or another error.
type partialSource struct {
	fixedSource
	err error
}

func (s partialSource) Discover(ctx context.Context, o Options) ([]VM, error) {
	vms, _ := s.fixedSource.Discover(ctx, o)
	return vms, s.err
}

func TestCollectKeepsGoingPastUnreadableFiles(t *testing.T) {
	u := &UnreadableFiles{}
	u.Add("/x/bad.vmx", errors.New("vmx: /x/bad.vmx: not a .vmx file"))
	u.Add("/x/worse.ovf", errors.New("syntax error"))
	a := partialSource{fixedSource{"a", []VM{{Name: "a1", Source: SourceRef{Kind: SourceVMX, Path: "/x/a1.vmx"}}}}, u}
	b := fixedSource{"b", []VM{{Name: "b1", Source: SourceRef{Kind: SourceOVF, Path: "/x/b.ovf"}}}}
	inv, err := Collect(context.Background(), []Source{a, b}, Options{})
	got, ok := AsUnreadable(err)
	if !ok || inv == nil || len(inv.VMs) != 2 || len(got.Files) != 2 {
		t.Fatalf("inventory %+v, error %v", inv, err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "2 file(s) could not be read") || !strings.Contains(msg, "/x/bad.vmx: not a .vmx") || !strings.Contains(msg, "/x/worse.ovf: syntax error") {
		t.Errorf("message %q", msg)
	}
	fatal := partialSource{fixedSource{"c", nil}, errors.New("connection refused")}
	if inv, err := Collect(context.Background(), []Source{fatal, b}, Options{}); err == nil || inv != nil {
		t.Errorf("another error: %+v, %v", inv, err)
	}
	if inv, err := Collect(context.Background(), []Source{b}, Options{}); err != nil || len(inv.VMs) != 1 {
		t.Errorf("no problem: %+v, %v", inv, err)
	}
}

func TestParseDatastoreDirs(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ParseDatastoreDirs([]string{"datastore1=" + dir, "5f3c1a2b-8d9e0f11=" + dir})
	if err != nil || got["datastore1"] != dir || got["5f3c1a2b-8d9e0f11"] != dir {
		t.Fatalf("%v, %v", got, err)
	}
	for _, bad := range [][]string{{"nodelimiter"}, {"=" + dir}, {"ds="}, {"ds=" + file}, {"ds=" + filepath.Join(dir, "none")},
		{"ds=" + dir, "ds=" + filepath.Dir(dir)}} {
		if _, err := ParseDatastoreDirs(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
