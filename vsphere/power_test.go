package vsphere

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/podvm-migrate/podvm-migrate/discover"
	"github.com/podvm-migrate/podvm-migrate/testenv/vcsim"
)

// TestPowerOff shuts VMs of their own simulator down (the shared one's
// power states are what discovery checks) and finds them by name.
func TestPowerOff(t *testing.T) {
	ctx := context.Background()
	v, err := vcsim.Start(ctx, vcsim.Options{VMs: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	conn := connect(t, Config{URL: v.URL.String(), Username: v.Username, Password: v.Password, CACerts: v.CACertFile})
	var on, off vcsim.VM
	for _, vm := range v.VMs {
		switch vm.PowerState {
		case "poweredOn":
			on = vm
		case "poweredOff":
			off = vm
		}
	}
	if on.Name == "" || off.Name == "" {
		t.Fatalf("simulator VMs %+v: want a powered-on and a powered-off one", v.VMs)
	}
	if moref, err := conn.FindVM(ctx, v.Datacenter, on.Name); err != nil || moref != on.MoRef {
		t.Errorf("FindVM(%s) = %s, %v; want %s", on.Name, moref, err, on.MoRef)
	}
	if _, err := conn.FindVM(ctx, v.Datacenter, "nope"); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("FindVM(nope): %v", err)
	}

	did, err := conn.PowerOff(ctx, on.MoRef, 5*time.Second)
	if err != nil || (did != "guest shut down" && did != "powered off") {
		t.Errorf("PowerOff(%s) = %q, %v", on.Name, did, err)
	}
	if st, err := conn.PowerState(ctx, on.MoRef); err != nil || st != discover.PoweredOff {
		t.Errorf("%s is %s, %v after PowerOff", on.Name, st, err)
	}
	if did, err := conn.PowerOff(ctx, off.MoRef, time.Second); err != nil || did != "already powered off" {
		t.Errorf("PowerOff(%s) of a VM that is off = %q, %v", off.Name, did, err)
	}
	if _, err := conn.PowerOff(ctx, "vm-nope", time.Second); err == nil || !strings.Contains(err.Error(), "vm-nope") {
		t.Errorf("PowerOff of an unknown VM: %v", err)
	}
}
