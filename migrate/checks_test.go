package migrate

import (
	"context"
	"net"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/podvm-migrate/podvm-migrate/checks/probe"
	"github.com/podvm-migrate/podvm-migrate/plan"
	"github.com/podvm-migrate/podvm-migrate/podvm"
	"github.com/podvm-migrate/podvm-migrate/runrecord"
)

// addressedStages are the scripted stages with pod VMs reached through
// port forwards to real local servers.
type addressedStages struct {
	*scriptedStages
	addr probe.Address
}

func (s addressedStages) CheckAddress(context.Context, *plan.PlannedVM) (probe.Address, error) {
	return s.addr, nil
}

// guestServer is a local TCP server that stands in for a guest service
// behind a port forward: it keeps each connection open, as a server that
// waits for its client does.
func guestServer(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { time.Sleep(3 * time.Second); c.Close() }()
		}
	}()
	return l.Addr().(*net.TCPAddr).Port
}

// refusingPort is a port on 127.0.0.1 that refuses connections until the
// test ends: a TCP socket bound to it does not listen, and keeps any other
// listener (of a test running beside this one) from taking the port, as one
// could take a port found free and closed again.
func refusingPort(t *testing.T) int {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return sa.(*syscall.SockaddrInet4).Port
}

func TestFailedCheckFailsOnlyItsVM(t *testing.T) {
	s := addressedStages{newScripted(), probe.Forwarded{Ports: map[int]int{22: guestServer(t), 23: refusingPort(t)}}}
	p := scriptedPlan(3)
	p.VMs[0].Checks = []string{"tcp:22", "ping"}
	p.VMs[1].Checks = []string{"tcp:22", "tcp:23"}
	// vm02 has no checks.
	dir := t.TempDir()
	// The refused port fails when the deadline runs out; the deadline leaves
	// the passing checks' connections time to be made on a loaded machine.
	opts := Options{RunDir: dir, Checks: probe.Options{Timeout: 1500 * time.Millisecond, Interval: 50 * time.Millisecond, RelayWait: 100 * time.Millisecond}}
	r, err := NewRunner(p, s, s, opts)
	if err != nil {
		t.Fatal(err)
	}
	results, err := r.Run(context.Background())
	r.Close()
	if err == nil || !strings.Contains(err.Error(), "1 of 3 VMs failed: vm01") {
		t.Fatalf("run error %v; want only vm01 to fail: %+v", err, results)
	}
	byVM := map[string]VMResult{}
	for _, res := range results {
		byVM[res.VM] = res
	}
	if v := byVM["vm00"]; v.Status != "ready" || len(v.Checks) != 2 || v.Checks[0].Outcome != runrecord.CheckPassed ||
		v.Checks[1].Outcome != runrecord.CheckSkipped || !strings.Contains(v.Checks[1].Detail, "slirp") {
		t.Errorf("vm00: %+v", v)
	}
	if v := byVM["vm01"]; v.Status != runrecord.ResultFailed || !strings.Contains(v.Error, "check: 1 of 2 failed: tcp:23: ") ||
		!strings.Contains(v.Error, "connection refused") || v.Checks[0].Outcome != runrecord.CheckPassed {
		t.Errorf("vm01: %+v", v)
	}
	if v := byVM["vm02"]; v.Status != "ready" || len(v.Checks) != 0 {
		t.Errorf("vm02: %+v", v)
	}
	events, _ := runrecord.ReadJournal(dir)
	var got []string
	for _, e := range events {
		if e.Phase == runrecord.PhaseCheck && e.Check != nil {
			got = append(got, e.VM+" "+e.Check.Check+" "+e.Result+" "+e.Check.Outcome)
			if !strings.HasPrefix(e.Check.Address, "user networking via 127.0.0.1") {
				t.Errorf("address %q", e.Check.Address)
			}
		}
	}
	slices.Sort(got)
	want := "vm00 ping skipped skipped,vm00 tcp:22 done passed,vm01 tcp:22 done passed,vm01 tcp:23 failed failed"
	if strings.Join(got, ",") != want {
		t.Errorf("check events %v, want %s", got, want)
	}

	// A rerun leaves the ready pod VMs alone and checks them again.
	r, err = NewRunner(p, s, s, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "vm01") {
		t.Errorf("rerun: %v", err)
	}
	again, _ := runrecord.ReadJournal(dir)
	n := 0
	for _, e := range again[len(events):] {
		if e.Phase == runrecord.PhaseCheck {
			n++
		}
	}
	if n != 4 || s.boots["vm01"] != 1 {
		t.Errorf("rerun: %d check events, vm01 booted %d times; want 4 and 1", n, s.boots["vm01"])
	}
}

func TestChecksSkippedWithoutAnAddress(t *testing.T) {
	s := newScripted() // a target that gives no address
	p := scriptedPlan(1)
	p.VMs[0].Checks = []string{"tcp:22", "http://example.invalid/=200"}
	r, err := NewRunner(p, s, s, Options{RunDir: t.TempDir(), Checks: probe.Options{Timeout: 300 * time.Millisecond, Interval: 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	results, err := r.Run(context.Background())
	// The URL with a host of its own needs no address: it runs, and fails
	// (.invalid never resolves).
	if err == nil || len(results) != 1 || results[0].Checks[0].Outcome != runrecord.CheckSkipped ||
		!strings.Contains(results[0].Checks[0].Detail, "no address") || results[0].Checks[1].Outcome != runrecord.CheckFailed {
		t.Errorf("%+v, %v", results, err)
	}
}

func TestCheckForwardsAndReadyIP(t *testing.T) {
	vm := &plan.PlannedVM{Spec: podvm.Spec{NICs: []podvm.NIC{{Network: "pod"}}}, Checks: []string{"tcp:22", "ping", "http://:8080/=200", "http://host.example:9/", "https:///", "tcp:22"}}
	fw, err := checkForwards(vm)
	if err != nil {
		t.Fatal(err)
	}
	var guest []int
	for _, f := range fw {
		guest = append(guest, f.GuestPort)
		if f.HostAddr != "127.0.0.1" || f.HostPort == 0 || f.Proto != "tcp" {
			t.Errorf("forward %+v", f)
		}
	}
	if len(guest) != 3 || guest[0] != 22 || guest[1] != 8080 || guest[2] != 443 {
		t.Errorf("published guest ports %v, want 22, 8080, 443", guest)
	}
	vm.Spec.NICs[0].Network = "libvirt:default"
	if fw, _ := checkForwards(vm); len(fw) != 0 {
		t.Errorf("a libvirt network needs no forwards: %+v", fw)
	}
}
