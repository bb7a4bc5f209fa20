package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podvm-migrate/podvm-migrate/runrecord"
)

// TestOutputFormatsHonoured: -o json gives JSON where the default is
// something else: kubevirt manifests prints one v1 List, report the
// path and format of what it wrote (a bare path by default).
func TestOutputFormatsHonoured(t *testing.T) {
	pl := kubeVirtPlan(t)

	out, errs, code := execute(t, "kubevirt", "manifests", pl, "-o", "json")
	if code != exitOK {
		t.Fatalf("manifests -o json: exit %d: %s", code, errs)
	}
	var list struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Items      []struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("manifests -o json is not JSON: %v\n%s", err, out)
	}
	var kinds []string
	for _, it := range list.Items {
		kinds = append(kinds, it.Kind+"/"+it.Metadata.Name)
	}
	// Each VM's DataVolumes come before it, as in the YAML stream.
	if list.APIVersion != "v1" || list.Kind != "List" || strings.Join(kinds, " ") != "DataVolume/web01-disk0 VirtualMachine/web01" {
		t.Errorf("manifests -o json: %+v", list)
	}

	run := t.TempDir()
	b, err := os.ReadFile(pl)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(run, runrecord.PlanFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(run, "report.html")
	out, errs, code = execute(t, "report", run)
	if code != exitOK || strings.TrimSpace(out) != want {
		t.Errorf("report: exit %d, %q (%s); want the bare path %s", code, out, errs, want)
	}
	out, errs, code = execute(t, "report", run, "-o", "json")
	var rf reportFile
	if code != exitOK || json.Unmarshal([]byte(out), &rf) != nil || rf.Path != want || rf.Format != "html" {
		t.Errorf("report -o json: exit %d, %q (%s)", code, out, errs)
	}
}
