// Command discoverbench compares `podvm-migrate discover -o json` with the
// govc commands people use today (find, ls -json, vm.info -json) against
// one vCenter simulator holding N VMs with real disk files: wall time,
// ratio, HTTP round trips (counted by the simulator) and peak RSS of each
// client. It runs every command twice: on the host, and from a private
// network namespace whose veth link adds a round-trip delay (tc netem),
// as a remote vCenter would. Run by `make bench`; needs root for the
// namespace and skips that half otherwise.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/podvm-migrate/podvm-migrate/discover"
	"github.com/podvm-migrate/podvm-migrate/testenv/vcsim"
)

type options struct {
	vms        int
	rtt        time.Duration
	podvm      string
	govc       string
	timeout    time.Duration
	slow       bool
	skipVMInfo bool
}

// result is one measured command.
type result struct {
	setting, name string
	wall          time.Duration
	roundTrips    int64
	rssKiB        int64
	outBytes      int64
	vms           int // VMs in the output, when known
	err           error
}

// command is one client command to measure.
type command struct {
	name string
	argv []string
	vms  func([]byte) int
}

func main() {
	var o options
	flag.IntVar(&o.vms, "vms", 5000, "VMs in the simulator")
	flag.DurationVar(&o.rtt, "rtt", 20*time.Millisecond, "round-trip delay added on the slow link")
	flag.StringVar(&o.podvm, "podvm-migrate", "bin/podvm-migrate", "podvm-migrate binary")
	flag.StringVar(&o.govc, "govc", "", "govc binary (default: build ./tools/govc)")
	flag.DurationVar(&o.timeout, "timeout", 15*time.Minute, "give up on one command after this long")
	flag.BoolVar(&o.slow, "slow-link", true, "also measure over a netns link with --rtt added")
	flag.BoolVar(&o.skipVMInfo, "skip-vm-info", false, "leave out govc vm.info over every VM (slow)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "discoverbench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	log.SetOutput(io.Discard) // the simulator logs expected faults
	logf := func(f string, a ...any) { fmt.Fprintf(os.Stderr, "bench: "+f+"\n", a...) }
	tmp, err := os.MkdirTemp("", "podvm-discoverbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if o.govc == "" {
		o.govc = filepath.Join(tmp, "govc")
		logf("building govc (govmomi v0.56.0 cli)")
		if out, err := exec.CommandContext(ctx, "go", "build", "-o", o.govc, "./tools/govc").CombinedOutput(); err != nil {
			return fmt.Errorf("build govc: %v: %s", err, out)
		}
	}
	if o.podvm, err = filepath.Abs(o.podvm); err != nil {
		return err
	}
	if _, err := os.Stat(o.podvm); err != nil {
		return fmt.Errorf("%w (run 'make build' first)", err)
	}

	listen := "127.0.0.1:0"
	var link *slowLink
	if o.slow {
		if link, err = newSlowLink(ctx, o.rtt); err != nil {
			logf("no netns link (%v): delaying in user space instead", err)
		} else {
			defer link.Close()
			listen = link.HostIP + ":0"
		}
	}
	logf("starting the simulator with %d VMs", o.vms)
	start := time.Now()
	sim, err := vcsim.Start(ctx, vcsim.Options{VMs: o.vms, Listen: listen, Dir: filepath.Join(tmp, "vsphere"), Log: logf})
	if err != nil {
		return err
	}
	defer sim.Close()
	logf("simulator ready in %s at %s", time.Since(start).Round(time.Second), sim.URL)

	cmds := commands(o, sim)
	env := append(os.Environ(), sim.Env()...)
	type setting struct {
		name string
		env  []string
		wrap func([]string) []string
	}
	settings := []setting{{name: "host", env: env, wrap: func(a []string) []string { return a }}}
	switch {
	case link != nil:
		settings = append(settings, setting{fmt.Sprintf("+%s RTT (netns, tc netem)", o.rtt), env, link.Wrap})
	case o.slow:
		// No netem here: delay in user space instead, on loopback.
		proxy, err := startDelayProxy(ctx, sim.URL.Host, o.rtt)
		if err != nil {
			return err
		}
		defer proxy.Close()
		u := *sim.URL
		u.Host = proxy.Addr()
		slowEnv := append(append([]string(nil), env...), "GOVC_URL="+u.String())
		settings = append(settings, setting{fmt.Sprintf("+%s RTT (delay proxy)", o.rtt), slowEnv, func(a []string) []string { return a }})
	}
	var results []result
	for _, st := range settings {
		for _, c := range cmds {
			logf("%s: %s", st.name, c.name)
			r := measure(ctx, o.timeout, sim, st.env, st.wrap(c.argv), c.vms)
			r.setting, r.name = st.name, c.name
			if r.err != nil {
				logf("  %v", r.err)
			} else {
				logf("  %s, %d round trips, peak RSS %d MiB, %d VMs", r.wall.Round(10*time.Millisecond), r.roundTrips, r.rssKiB>>10, r.vms)
			}
			results = append(results, r)
		}
	}
	report(os.Stdout, o, results)
	return nil
}

// commands lists what is measured: ours first, the yardstick of the ratios.
func commands(o options, sim *vcsim.Simulator) []command {
	folders := map[string]bool{}
	var paths []string
	for _, vm := range sim.VMs {
		folders[strings.TrimSuffix("/"+sim.Datacenter+"/vm/"+vm.Folder, "/")] = true
		paths = append(paths, vm.InventoryPath)
	}
	var fl []string
	for f := range folders {
		fl = append(fl, f)
	}
	sort.Strings(fl)
	countInv := func(b []byte) int {
		inv, err := discover.Unmarshal(b)
		if err != nil {
			return -1
		}
		return len(inv.VMs)
	}
	countLines := func(b []byte) int { return bytes.Count(b, []byte("\n")) }
	countLs := func(b []byte) int {
		var ls struct {
			Elements []struct {
				Object struct {
					Self struct{ Type string } `json:"self"`
				}
			} `json:"elements"`
		}
		if json.Unmarshal(b, &ls) != nil {
			return -1
		}
		n := 0
		for _, e := range ls.Elements {
			if e.Object.Self.Type == "VirtualMachine" {
				n++
			}
		}
		return n
	}
	countInfo := func(b []byte) int {
		var info struct {
			VirtualMachines []json.RawMessage `json:"virtualMachines"`
		}
		if json.Unmarshal(b, &info) != nil {
			return -1
		}
		return len(info.VirtualMachines)
	}
	cmds := []command{
		{"podvm-migrate discover -o json", []string{o.podvm, "discover", "-o", "json", "--progress", "never"}, countInv},
		{"govc find / -type m", []string{o.govc, "find", "/", "-type", "m"}, countLines},
		{fmt.Sprintf("govc ls -json (%d VM folders)", len(fl)), append([]string{o.govc, "ls", "-json"}, fl...), countLs},
	}
	if !o.skipVMInfo {
		cmds = append(cmds, command{fmt.Sprintf("govc vm.info -json (%d VM paths)", len(paths)), append([]string{o.govc, "vm.info", "-json"}, paths...), countInfo})
	}
	return cmds
}

// measure runs one command, counting the simulator's requests. Peak RSS
// comes from GNU time's %M: a child forked straight from this process
// would inherit its high-water mark (the simulator's) in ru_maxrss.
func measure(ctx context.Context, timeout time.Duration, sim *vcsim.Simulator, env, argv []string, count func([]byte) int) result {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	rssFile, err := os.CreateTemp("", "podvm-bench-rss-")
	if err != nil {
		return result{err: err}
	}
	rssFile.Close()
	defer os.Remove(rssFile.Name())
	argv = append([]string{"/usr/bin/time", "-f", "%M", "-o", rssFile.Name()}, argv...)
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, &out, &errb
	// On timeout kill the whole group (time and the client), not just time.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	sim.ResetRequests()
	start := time.Now()
	err = cmd.Run()
	r := result{wall: time.Since(start), roundTrips: sim.Requests(), outBytes: int64(out.Len()), vms: -1}
	if b, rerr := os.ReadFile(rssFile.Name()); rerr == nil {
		fmt.Sscan(lastLine(string(b)), &r.rssKiB)
	}
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		r.err = fmt.Errorf("timed out after %s", timeout)
	case err != nil:
		r.err = fmt.Errorf("%v: %s", err, lastLine(errb.String()))
	case count != nil:
		r.vms = count(out.Bytes())
	}
	return r
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// report prints one table per setting, with ratios to podvm-migrate.
func report(w io.Writer, o options, results []result) {
	fmt.Fprintf(w, "\ndiscovery benchmark: %d VMs, govmomi v0.56.0 simulator (vcsim), clients as separate processes\n", o.vms)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "setting\tcommand\twall\tvs podvm-migrate\tround trips\tpeak RSS\toutput\tVMs\t")
	var base result
	for _, r := range results {
		if strings.HasPrefix(r.name, "podvm-migrate") {
			base = r
		}
		ratio := "1.0x"
		if !strings.HasPrefix(r.name, "podvm-migrate") && base.wall > 0 {
			ratio = fmt.Sprintf("%.1fx slower", r.wall.Seconds()/base.wall.Seconds())
			if r.wall < base.wall {
				ratio = fmt.Sprintf("%.1fx faster", base.wall.Seconds()/r.wall.Seconds())
			}
		}
		wall := r.wall.Round(10 * time.Millisecond).String()
		if r.err != nil {
			wall = "FAILED " + r.err.Error()
		}
		vms := "-"
		if r.vms >= 0 {
			vms = fmt.Sprint(r.vms)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%.0f MiB\t%.1f MiB\t%s\t\n", r.setting, r.name, wall, ratio, r.roundTrips,
			float64(r.rssKiB)/1024, float64(r.outBytes)/(1<<20), vms)
	}
	tw.Flush()
	fmt.Fprintln(w, "round trips: HTTP requests the simulator served for the command (log-in included); peak RSS: the client process's maxrss")
}
