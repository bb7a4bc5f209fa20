package main

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/podvm-migrate/podvm-migrate/internal/testtool"
	"github.com/podvm-migrate/podvm-migrate/reports"
	"github.com/podvm-migrate/podvm-migrate/runtime"
	"github.com/podvm-migrate/podvm-migrate/testenv/libvirtd"
	"github.com/podvm-migrate/podvm-migrate/testenv/testguest"
)

// TestMigrateOntoLibvirtNetwork plans a VM with --network-map
// '*=libvirt:default' and migrates it to the runtime: the test guest comes
// up on libvirt's default network with its source MAC, takes a DHCP lease,
// and list -o json and the report show that address.
func TestMigrateOntoLibvirtNetwork(t *testing.T) {
	if os.Getenv(slowTests) != "1" {
		t.Skipf("set %s=1: migrates and boots the test guest on libvirt's default network", slowTests)
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: libvirtd for qemu:///system and its default network")
	}
	ctx := context.Background()
	libvirtd.NetworkForTest(t, "", libvirtd.DefaultNetworkOptions())
	dir := testtool.LibvirtDir(t, "podvm-migrate-net-")
	guest := filepath.Join(dir, "guest")
	if _, err := testguest.Build(ctx, testguest.Options{OutDir: guest}); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	const name, mac = "net-dhcp", "00:50:56:00:04:01"
	t.Cleanup(func() { execute(t, "rm", "--force", name, "--state-dir", state) })
	vm := planVM(name, mac)
	vm.Hardware.MemoryMiB = 256
	vm.Hardware.Disks[0].File = filepath.Join(guest, testguest.VMDK)
	inv := writeInventory(t, vm)
	planFile := filepath.Join(dir, "plan.yaml")
	if _, stderr, code := execute(t, "plan", inv, "--network-map", "*=libvirt:default", "--out", planFile); code != exitOK {
		t.Fatalf("plan: exit %d: %s", code, stderr)
	}
	if b, _ := os.ReadFile(planFile); !strings.Contains(string(b), "network: libvirt:default") {
		t.Fatalf("the plan does not put the NIC on libvirt:default:\n%s", b)
	}
	runDir := filepath.Join(dir, "run")
	if out, stderr, code := execute(t, "migrate", planFile, "--target", "runtime", "--run-dir", runDir, "--state-dir", state, "-o", "json"); code != exitOK {
		t.Fatalf("migrate: exit %d: %s\n%s", code, stderr, out)
	}

	// dnsmasq tells libvirt of the lease through a helper a moment after
	// the guest has it: poll list until the lease shows.
	_, subnet, _ := net.ParseCIDR("192.168.122.0/24")
	var pod runtime.PodVM
	var lease *runtime.Address
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		out, stderr, code := execute(t, "list", "--state-dir", state, "-o", "json")
		if code != exitOK {
			t.Fatalf("list: exit %d: %s", code, stderr)
		}
		var pods []runtime.PodVM
		if err := json.Unmarshal([]byte(out), &pods); err != nil {
			t.Fatalf("list -o json: %v\n%s", err, out)
		}
		for _, p := range pods {
			if p.Name == name {
				pod = p
				for i, a := range p.Addresses {
					if a.Source == runtime.AddressFromLease {
						lease = &p.Addresses[i]
					}
				}
			}
		}
		return lease != nil, nil
	})
	if err != nil {
		t.Fatalf("list never showed a DHCP lease of %s: %+v", name, pod)
	}
	if !subnet.Contains(net.ParseIP(lease.IP)) || lease.MAC != mac || lease.Network != "libvirt:default" || lease.NIC != "nic0" {
		t.Errorf("lease %+v: want an address in %s for %s on libvirt:default", lease, subnet, mac)
	}
	if !strings.Contains(pod.ReadyLine, "ip="+lease.IP) {
		t.Errorf("the guest says %q, the lease %s", pod.ReadyLine, lease.IP)
	}
	t.Logf("%s on libvirt:default at %s (%s)", name, lease.IP, pod.ReadyLine)
	if out, _, _ := execute(t, "list", "--state-dir", state); !strings.Contains(out, lease.IP) {
		t.Errorf("list's table lacks %s:\n%s", lease.IP, out)
	}

	out, stderr, code := execute(t, "report", runDir, "--format", "json", "--out", "-")
	if code != exitOK {
		t.Fatalf("report: exit %d: %s", code, stderr)
	}
	var rep reports.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Performance.VMs) != 1 {
		t.Fatalf("report -o json: %v\n%s", err, out)
	}
	if got := rep.Performance.VMs[0].Addresses; len(got) == 0 || got[0] != lease.IP {
		t.Errorf("report shows addresses %v, want %s", got, lease.IP)
	}
}
