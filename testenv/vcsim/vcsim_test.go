package vcsim

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25/mo"
)

func TestVSphereSimulator(t *testing.T) {
	ctx := context.Background()
	start := time.Now()
	v, err := Start(ctx, Options{VMs: 90, Dir: t.TempDir(), Log: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	t.Logf("90 VMs in %s", time.Since(start))

	c, err := v.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Logout(ctx)
	m := view.NewManager(c.Client)
	cv, err := m.CreateContainerView(ctx, c.ServiceContent.RootFolder, []string{"VirtualMachine"}, true)
	if err != nil {
		t.Fatal(err)
	}
	var vms []mo.VirtualMachine
	if err := cv.Retrieve(ctx, []string{"VirtualMachine"}, []string{"name", "config", "runtime", "guest", "snapshot"}, &vms); err != nil {
		t.Fatal(err)
	}
	if len(vms) != 90 {
		t.Fatalf("%d VMs, want 90", len(vms))
	}
	byName := map[string]mo.VirtualMachine{}
	for _, vm := range vms {
		byName[vm.Name] = vm
	}
	seen := map[string]bool{}
	for _, sv := range v.VMs {
		vm, ok := byName[sv.Name]
		if !ok {
			t.Fatalf("%s missing", sv.Name)
		}
		for _, f := range sv.Features {
			seen[f] = true
		}
		if string(vm.Runtime.PowerState) != sv.PowerState {
			t.Errorf("%s: power %s, want %s", sv.Name, vm.Runtime.PowerState, sv.PowerState)
		}
		if sv.Has("efi") != (vm.Config.Firmware == "efi") {
			t.Errorf("%s: firmware %s", sv.Name, vm.Config.Firmware)
		}
		if sv.Has("snapshots") != (vm.Snapshot != nil) {
			t.Errorf("%s: snapshots %v", sv.Name, vm.Snapshot != nil)
		}
		if sv.PowerState == "poweredOn" && (vm.Guest.IpAddress == "" || len(vm.Guest.Disk) == 0) {
			t.Errorf("%s: no guest info", sv.Name)
		}
		// Every disk is a real file in a datastore folder.
		for _, d := range sv.Disks {
			p, err := v.LocalPath(d)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(p); err != nil {
				t.Errorf("%s: disk %s: %v", sv.Name, d, err)
			}
		}
	}
	for _, f := range vmFeatures {
		if !seen[f.name] {
			t.Errorf("no VM has feature %s", f.name)
		}
	}
	// The environment names a trusted certificate and the right user.
	env := strings.Join(v.Env(), "\n")
	for _, want := range []string{"GOVC_URL=https://127.0.0.1:", "GOVC_TLS_CA_CERTS=" + v.CACertFile, "GOVC_PASSWORD=" + v.Password} {
		if !strings.Contains(env, want) {
			t.Errorf("Env lacks %q:\n%s", want, env)
		}
	}
	if v.Requests() == 0 {
		t.Error("requests are not counted")
	}
}

func TestStartForTest(t *testing.T) {
	v := StartForTest(t, Options{VMs: 2})
	if len(v.VMs) != 2 || v.Datastores["datastore1"] == "" {
		t.Fatalf("simulator %+v", v)
	}
	c, err := v.Client(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Logout(t.Context())
}
