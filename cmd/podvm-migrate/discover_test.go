package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podvm-migrate/podvm-migrate/discover"
	"github.com/podvm-migrate/podvm-migrate/testenv/vcsim"
)

func TestDiscoverCommand(t *testing.T) {
	sim, err := vcsim.Start(context.Background(), vcsim.Options{VMs: 12, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	for _, kv := range sim.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	dir := t.TempDir()
	vmxFile := filepath.Join(dir, "offline.vmx")
	if err := os.WriteFile(vmxFile, []byte("displayName = \"offline-1\"\nnumvcpus = \"2\"\nmemSize = \"1024\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	out, errs, code := execute(t, "discover", "-o", "json", "--vmx", dir)
	inv, err := discover.Unmarshal([]byte(out))
	if code != exitOK || err != nil || len(inv.VMs) != 13 || len(inv.Sources) != 2 {
		t.Fatalf("discover -o json: exit %d (%s), %v, %+v", code, errs, err, inv)
	}

	out, _, code = execute(t, "discover", "-o", "yaml", "--name", "db-*", "--power-state", "off")
	inv, err = discover.Unmarshal([]byte(out))
	if code != exitOK || err != nil || len(inv.VMs) == 0 {
		t.Fatalf("discover -o yaml: exit %d, %v", code, err)
	}
	for _, vm := range inv.VMs {
		if !strings.HasPrefix(vm.Name, "db-") || vm.State.Power != discover.PoweredOff {
			t.Errorf("filter let %s (%s) through", vm.Name, vm.State.Power)
		}
	}

	out, _, code = execute(t, "discover", "-o", "table", "--folder", "/DC0/vm/apps/web")
	if code != exitOK || !strings.HasPrefix(out, "NAME") || !strings.Contains(out, "web-0002") || strings.Contains(out, "app-0001") {
		t.Errorf("table: exit %d\n%s", code, out)
	}

	file := filepath.Join(dir, "inv.yaml")
	_, errs, code = execute(t, "discover", "--out", file)
	data, err := os.ReadFile(file)
	if code != exitOK || err != nil || !strings.HasPrefix(string(data), "apiVersion: podvm-migrate/v1") || !strings.Contains(errs, "12 VMs written") {
		t.Errorf("--out: exit %d (%s), %v", code, errs, err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".inv.yaml.tmp-*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}

	t.Setenv("GOVC_PASSWORD", "wrong-"+sim.Password)
	_, errs, code = execute(t, "discover")
	if code != exitError || !strings.Contains(errs, "wrong user name or password") || strings.Contains(errs, sim.Password) {
		t.Errorf("wrong password: exit %d: %s", code, errs)
	}
}

func TestDiscoverUsageErrors(t *testing.T) {
	t.Setenv("GOVC_URL", "")
	cases := [][]string{
		{"discover"},
		{"discover", "--vmx", "x", "--power-state", "sleeping"},
		{"discover", "--vmx", "x", "--name", "[bad"},
		{"discover", "--vmx", "x", "--progress", "sometimes"},
		{"discover", "extra"},
	}
	for _, args := range cases {
		if _, errs, code := execute(t, args...); code != exitUsage {
			t.Errorf("%v: exit %d (%s), want %d", args, code, errs, exitUsage)
		}
	}
}
