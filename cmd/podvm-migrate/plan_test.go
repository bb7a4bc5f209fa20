package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podvm-migrate/podvm-migrate/discover"
	"github.com/podvm-migrate/podvm-migrate/plan"
)

func writeInventory(t *testing.T, vms ...discover.VM) string {
	t.Helper()
	inv := discover.NewInventory()
	inv.VMs = vms
	b, err := json.Marshal(inv)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "inventory.json")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func planVM(name, mac string) discover.VM {
	return discover.VM{Name: name, Source: discover.SourceRef{Kind: discover.SourceVMX, Path: "/vms/" + name + ".vmx"},
		Guest: discover.Guest{GuestID: "debian12_64Guest", Hostname: name},
		Hardware: discover.Hardware{Firmware: discover.FirmwareBIOS, CPUs: 1, CoresPerSocket: 1, Sockets: 1, MemoryMiB: 512,
			Disks: []discover.Disk{{Controller: "scsi0", CapacityBytes: 64 << 20, File: "/vms/" + name + ".vmdk"}},
			NICs:  []discover.NIC{{Model: "vmxnet3", MAC: mac, Network: "VM Network", StartConnected: true}}}}
}

func TestPlanCommand(t *testing.T) {
	ready := planVM("web01", "00:50:56:00:00:01")
	blocked := planVM("db01", "00:50:56:00:00:02")
	blocked.Hardware.Disks[0].RDM = &discover.RDM{Compatibility: "physicalMode"}
	inv := writeInventory(t, ready, blocked)
	out := filepath.Join(t.TempDir(), "plan.yaml")

	stdout, _, code := execute(t, "plan", inv, "--network-map", "VM Network=pod", "--out", out, "-o", "table")
	if code != exitBlocked {
		t.Fatalf("exit %d, want %d (one VM blocked)", code, exitBlocked)
	}
	if !strings.Contains(stdout, "2 VMs: 1 ready, 0 with warnings, 1 blocked") || !strings.Contains(stdout, "rdm") {
		t.Errorf("summary:\n%s", stdout)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.UnmarshalPlan(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.VMs) != 2 || p.VMs[0].Spec.NICs[0].Network != "pod" {
		t.Errorf("plan %+v", p.VMs)
	}

	// Allowing the rule for that VM makes the plan pass and records it.
	stdout, _, code = execute(t, "plan", inv, "--allow", "db01:rdm", "--out", out, "-o", "json")
	var sum plan.PlanSummary
	if code != exitOK || json.Unmarshal([]byte(stdout), &sum) != nil || sum.Blocked != 0 || sum.Warning != 1 {
		t.Fatalf("--allow: exit %d, %s", code, stdout)
	}
	b, _ = os.ReadFile(out)
	if !strings.Contains(string(b), "overrides:\n  - rdm") {
		t.Errorf("override not recorded in the plan:\n%s", b)
	}

	// Only web01, JSON to stdout.
	stdout, _, code = execute(t, "plan", inv, "--vm", "web01", "--format", "json")
	if code != exitOK || !strings.Contains(stdout, `"kind": "Plan"`) || strings.Contains(stdout, "db01") {
		t.Errorf("--vm web01 --format json: exit %d\n%s", code, stdout)
	}

	// Without --out the plan is the document on stdout, so -o names its
	// format; the summary goes to stderr as a table.
	for _, o := range []string{"json", "yaml"} {
		stdout, stderr, code := execute(t, "plan", inv, "--vm", "web01", "-o", o)
		p, err := plan.UnmarshalPlan([]byte(stdout))
		if code != exitOK || err != nil || len(p.VMs) != 1 || !strings.Contains(stderr, "1 VM: 1 ready") {
			t.Errorf("-o %s: exit %d, %v\n%s\nstderr:\n%s", o, code, err, stdout, stderr)
		}
		if isJSON := json.Valid([]byte(stdout)); isJSON != (o == "json") {
			t.Errorf("-o %s printed a plan that is JSON: %v\n%s", o, isJSON, stdout)
		}
	}
}

func TestPlanCommandErrors(t *testing.T) {
	inv := writeInventory(t, planVM("web01", "00:50:56:00:00:01"))
	notInv := filepath.Join(t.TempDir(), "plan.yaml")
	os.WriteFile(notInv, []byte("apiVersion: podvm-migrate/v1\nkind: Plan\n"), 0o644)
	badMap := filepath.Join(t.TempDir(), "map.yaml")
	os.WriteFile(badMap, []byte("networks: {}\n"), 0o644)
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"plan"}, exitUsage, "accepts 1 arg"},
		{[]string{"plan", "/no/such/inventory.json"}, exitError, "no such file"},
		{[]string{"plan", notInv}, exitError, "kind \"Plan\""},
		{[]string{"plan", inv, "--network-map", "pod"}, exitUsage, "SOURCE=TARGET"},
		{[]string{"plan", inv, "--mapping-file", badMap}, exitUsage, "map.yaml"},
		{[]string{"plan", inv, "--allow", "web01:no-such-rule"}, exitUsage, "no such rule"},
		{[]string{"plan", inv, "--vm", "typo"}, exitUsage, "typo"},
		{[]string{"plan", inv, "--format", "xml"}, exitUsage, "yaml or json"},
		{[]string{"plan", inv, "--network-map", "Other=pod"}, exitBlocked, "blocked"},
	}
	for _, c := range cases {
		_, stderr, code := execute(t, c.args...)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", c.args, code, stderr, c.code, c.want)
		}
	}
}

func TestPlanRules(t *testing.T) {
	stdout, _, code := execute(t, "plan", "rules", "-o", "json")
	var rules []plan.Rule
	if code != exitOK || json.Unmarshal([]byte(stdout), &rules) != nil || len(rules) != len(plan.Rules()) || rules[0].Remediation == "" {
		t.Fatalf("plan rules -o json: exit %d, %d rules", code, len(rules))
	}
	stdout, _, _ = execute(t, "plan", "rules", "-o", "table")
	if !strings.HasPrefix(stdout, "ID ") || !strings.Contains(stdout, "shared-disk") {
		t.Errorf("table:\n%s", stdout)
	}
}

// TestMigrateRefusesHandEditedStatus: a plan whose blocked VM was edited to
// "status: ready" is refused by migrate before anything is created, naming
// the VM and the finding that blocks it.
func TestMigrateRefusesHandEditedStatus(t *testing.T) {
	blocked := planVM("db01", "00:50:56:00:00:02")
	blocked.Hardware.Disks[0].RDM = &discover.RDM{Compatibility: "physicalMode"}
	inv := writeInventory(t, planVM("web01", "00:50:56:00:00:01"), blocked)
	dir := t.TempDir()
	planFile := filepath.Join(dir, "plan.yaml")
	if _, errs, code := execute(t, "plan", inv, "--out", planFile); code != exitBlocked {
		t.Fatalf("plan: exit %d: %s", code, errs)
	}
	b, err := os.ReadFile(planFile)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(b), "status: blocked", "status: ready", 1)
	if edited == string(b) {
		t.Fatalf("no blocked VM in\n%s", b)
	}
	if err := os.WriteFile(planFile, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	runDir := filepath.Join(dir, "run")
	_, errs, code := execute(t, "migrate", planFile, "--run-dir", runDir, "--state-dir", filepath.Join(dir, "state"))
	if code != exitError || !strings.Contains(errs, `vms[1] (db01): status "ready", but its critical finding rdm is not overridden`) ||
		!strings.Contains(errs, "--allow db01:rdm") {
		t.Errorf("exit %d: %s", code, errs)
	}
	if _, err := os.Stat(runDir); !os.IsNotExist(err) {
		t.Errorf("run directory created: %v", err)
	}
}
