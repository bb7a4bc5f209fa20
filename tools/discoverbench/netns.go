package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// slowLink is a private network namespace joined to the host by a veth
// pair whose both ends delay packets: the clients run inside it and reach
// the simulator on HostIP, as they would a remote vCenter.
type slowLink struct {
	NS     string
	HostIP string // the host end, where the simulator listens
	RTT    time.Duration
	hostIf string
}

// newSlowLink creates the namespace and link, adding rtt/2 of netem delay
// in each direction. It needs root, ip and tc.
func newSlowLink(ctx context.Context, rtt time.Duration) (*slowLink, error) {
	for _, tool := range []string{"ip", "tc"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("%s not installed", tool)
		}
	}
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("needs root for a network namespace")
	}
	id := os.Getpid() % 100000
	l := &slowLink{NS: fmt.Sprintf("podvm-bench-%d", id), HostIP: "10.251.0.1", RTT: rtt, hostIf: fmt.Sprintf("pvb%dh", id)}
	nsIf := fmt.Sprintf("pvb%dn", id)
	half := fmt.Sprintf("%dus", (rtt / 2).Microseconds())
	steps := [][]string{
		{"ip", "netns", "add", l.NS},
		{"ip", "link", "add", l.hostIf, "type", "veth", "peer", "name", nsIf},
		{"ip", "link", "set", nsIf, "netns", l.NS},
		{"ip", "addr", "add", l.HostIP + "/30", "dev", l.hostIf},
		{"ip", "link", "set", l.hostIf, "up"},
		{"ip", "-n", l.NS, "addr", "add", "10.251.0.2/30", "dev", nsIf},
		{"ip", "-n", l.NS, "link", "set", nsIf, "up"},
		{"ip", "-n", l.NS, "link", "set", "lo", "up"},
		{"tc", "qdisc", "add", "dev", l.hostIf, "root", "netem", "delay", half, "limit", "100000"},
		{"ip", "netns", "exec", l.NS, "tc", "qdisc", "add", "dev", nsIf, "root", "netem", "delay", half, "limit", "100000"},
	}
	for _, s := range steps {
		if out, err := exec.CommandContext(ctx, s[0], s[1:]...).CombinedOutput(); err != nil {
			l.Close()
			return nil, fmt.Errorf("%s: %v: %s", strings.Join(s, " "), err, strings.TrimSpace(string(out)))
		}
	}
	return l, nil
}

// Wrap prefixes a command so that it runs inside the namespace.
func (l *slowLink) Wrap(argv []string) []string {
	return append([]string{"ip", "netns", "exec", l.NS}, argv...)
}

// Close removes the namespace (and with it the veth pair).
func (l *slowLink) Close() {
	_ = exec.Command("ip", "link", "del", l.hostIf).Run()
	_ = exec.Command("ip", "netns", "del", l.NS).Run()
}
