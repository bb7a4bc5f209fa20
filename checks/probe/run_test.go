package probe

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/podvm-migrate/podvm-migrate/checks"
)

// fast keeps failing checks short: several attempts within a second and a
// half. It is for checks whose outcome comes from their deadline (a refused
// or silent port); the attempts are short, the deadline leaves a loaded
// machine room for more than one. A check that needs an answer uses
// answered, whose attempts leave a loaded machine seconds to answer, and
// whose relay wait leaves a server that closes at once time to close before
// the wait calls the connection kept open.
var (
	fast     = Options{Timeout: 1500 * time.Millisecond, Interval: 50 * time.Millisecond, Attempt: 300 * time.Millisecond, RelayWait: 200 * time.Millisecond}
	answered = Options{Timeout: 5 * time.Second, Interval: 100 * time.Millisecond, Attempt: 3 * time.Second, RelayWait: time.Second}
)

// listen starts a TCP server on 127.0.0.1 that handles each connection
// with serve, and returns its port.
func listen(t *testing.T, serve func(net.Conn)) int {
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
			go serve(c)
		}
	}()
	return l.Addr().(*net.TCPAddr).Port
}

// closedPort is a port on 127.0.0.1 that nothing listens on until the
// test ends.
func closedPort(t *testing.T) int {
	t.Helper()
	p, _ := reservedPort(t)
	return p
}

// reservedPort is a port on 127.0.0.1 held by a TCP socket that is bound
// and not listening: connections to it are refused, and no other listener
// (of this test or of a test running beside it) can take the port, as it
// could take a port found free and closed again. listen makes the socket
// listen.
func reservedPort(t *testing.T) (port int, listen func() (net.Listener, error)) {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "reserved port")
	t.Cleanup(func() { f.Close() })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return sa.(*syscall.SockaddrInet4).Port, func() (net.Listener, error) {
		if err := syscall.Listen(fd, 16); err != nil {
			return nil, err
		}
		return net.FileListener(f)
	}
}

func hold(c net.Conn) { time.Sleep(5 * time.Second); c.Close() }

func banner(c net.Conn) { c.Write([]byte("SSH-2.0-test\r\n")); hold(c) }

// refuse is what QEMU's hostfwd does when the guest refuses: it closes the
// connection, with a FIN, or a reset when the client's request is there
// unread.
func refuse(c net.Conn) { c.Close() }

// reset closes the connection with a reset whatever the client sent.
func reset(c net.Conn) {
	_ = c.(*net.TCPConn).SetLinger(0)
	c.Close()
}

func serverPort(t *testing.T, s *httptest.Server) int {
	t.Helper()
	_, p, _ := net.SplitHostPort(s.Listener.Addr().String())
	n, _ := strconv.Atoi(p)
	return n
}

func TestChecksAgainstLocalServers(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("/down", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/health", http.StatusFound) })
	plain := httptest.NewServer(mux)
	defer plain.Close()
	tlsSrv := httptest.NewUnstartedServer(mux)
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are expected
	tlsSrv.StartTLS()
	defer tlsSrv.Close()
	hp, tp := serverPort(t, plain), serverPort(t, tlsSrv)
	open, silent, talker, refuser, resetter := listen(t, hold), listen(t, hold), listen(t, banner), listen(t, refuse), listen(t, reset)
	// A server that accepts and never answers an HTTP request.
	mute := listen(t, hold)
	closed := closedPort(t)
	local := IP("127.0.0.1")
	relay := Forwarded{Ports: map[int]int{22: talker, 80: silent, 81: refuser, 82: resetter, 8080: hp}}
	s := strconv.Itoa

	cases := []struct {
		name, check string
		addr        Address
		outcome     string
		detail      string // in the result's detail
		target      string
	}{
		{"tcp open", "tcp:" + s(open), local, Passed, "connected", "127.0.0.1:" + s(open)},
		{"tcp closed", "tcp:" + s(closed), local, Failed, "connection refused", ""},
		{"tcp relayed, guest speaks first", "tcp:22", relay, Passed, "spoke first", "127.0.0.1:" + s(talker)},
		{"tcp relayed, guest waits", "tcp:80", relay, Passed, "kept the connection open", ""},
		{"tcp relayed, guest refuses", "tcp:81", relay, Failed, "nothing listens on that guest port", ""},
		{"tcp relayed, relay resets", "tcp:82", relay, Failed, "nothing listens on that guest port", ""},
		{"tcp relayed, port not published", "tcp:443", relay, Failed, "guest port 443 is not published", ""},
		{"http status", "http://:" + s(hp) + "/health=200", local, Passed, "status 200", plain.URL + "/health"},
		{"http default status", "http://:" + s(hp) + "/health", local, Passed, "status 200", ""},
		{"http wrong status", "http://:" + s(hp) + "/down=200", local, Failed, "status 503, want 200", ""},
		{"http expected 503", "http://:" + s(hp) + "/down=503", local, Passed, "status 503", ""},
		{"http redirect not followed", "http://:" + s(hp) + "/moved=302", local, Passed, "status 302", ""},
		{"http through forward", "http://:8080/health=200", relay, Passed, "status 200", "http://127.0.0.1:" + s(hp) + "/health"},
		{"http through forward, guest refuses", "http://:81/health=200", relay, Failed, "the host's port forward accepted, then the guest closed the connection", ""},
		{"http through forward, relay resets", "http://:82/health=200", relay, Failed, "the host's port forward accepted, then the guest closed the connection", ""},
		{"http closed port", "http://:" + s(closed) + "/=200", local, Failed, "connection refused", ""},
		{"http timeout", "http://:" + s(mute) + "/=200", local, Failed, "deadline exceeded", ""},
		{"http own host", plain.URL + "/health=200", nil, Passed, "status 200", plain.URL + "/health"},
		{"https pod VM, not verified", "https://:" + s(tp) + "/health=200", local, Passed, "status 200", ""},
		{"https own host, verified", tlsSrv.URL + "/health=200", nil, Failed, "certificate", ""},
		{"ping on user networking", "ping", relay, Skipped, "slirp", ""},
		{"no address", "tcp:22", nil, Skipped, "no address", ""},
	}
	// All the checks at once, as Run runs a VM's checks: the failing ones
	// wait out their deadlines side by side.
	results := make([]Result, len(cases))
	var wg sync.WaitGroup
	for i, tc := range cases {
		o := answered
		if strings.Contains(tc.detail, "refused") || strings.Contains(tc.detail, "deadline") {
			o = fast
		}
		wg.Go(func() { results[i] = runOne(context.Background(), tc.addr, checks.MustParse(tc.check), o) })
	}
	wg.Wait()
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := results[i]
			if r.Outcome != tc.outcome || !strings.Contains(r.Detail, tc.detail) || r.Check != tc.check || r.Attempts < 1 && tc.outcome != Skipped {
				t.Errorf("%+v; want %s with %q", r, tc.outcome, tc.detail)
			}
			if tc.target != "" && r.Target != tc.target {
				t.Errorf("target %q, want %q", r.Target, tc.target)
			}
			if tc.outcome == Failed && (strings.Contains(tc.detail, "not published") || tc.detail == "certificate") && r.Attempts != 1 {
				t.Errorf("a port that is not published failed after %d attempts; no retry can publish it", r.Attempts)
			}
			if tc.outcome == Failed && tc.detail == "connection refused" && (r.Attempts < 2 || !strings.Contains(r.Detail, "still failing after")) {
				t.Errorf("a refused port was not retried until the deadline: %+v", r)
			}
		})
	}
}

// A service that comes up after the guest is ready passes once it listens.
func TestCheckRetriesUntilTheServiceComesUp(t *testing.T) {
	// The port stays reserved, refusing, until the service listens on it.
	port, listen := reservedPort(t)
	var up atomic.Bool
	go func() {
		// The check's first attempt comes at once; the service a while
		// after it, so that attempt is refused.
		time.Sleep(500 * time.Millisecond)
		l, err := listen()
		if err != nil {
			t.Errorf("the service did not come up: %v", err)
			return
		}
		up.Store(true)
		t.Cleanup(func() { l.Close() })
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	r := runOne(context.Background(), IP("127.0.0.1"), checks.MustParse("tcp:"+strconv.Itoa(port)), Options{Timeout: 20 * time.Second, Interval: 50 * time.Millisecond})
	if r.Outcome != Passed || r.Attempts < 2 || !up.Load() {
		t.Errorf("%+v (listener up: %v); want a pass after some refused attempts", r, up.Load())
	}
}

// A check's last attempt is often cut short by the check's own deadline;
// the result still says why the attempts failed (the port refused), not
// that the time ran out. Attempts back to back make many of them start
// just before the deadline. The deadline leaves a loaded machine time for
// each check's first attempt: one cut short with no attempt before it
// rightly reports the deadline.
func TestFailureKeepsTheReasonNotTheDeadline(t *testing.T) {
	closed := checks.MustParse("tcp:" + strconv.Itoa(closedPort(t)))
	cs := slices.Repeat([]checks.Check{closed}, 20)
	rs := Run(context.Background(), IP("127.0.0.1"), cs, Options{Timeout: time.Second, Interval: time.Microsecond}, nil)
	for i, r := range rs {
		if r.Outcome != Failed || !strings.Contains(r.Detail, "connection refused") {
			t.Errorf("check %d: %+v; want failed with the refusal", i, r)
		}
	}
}

func TestRunKeepsOrderAndStopsWithContext(t *testing.T) {
	open := listen(t, hold)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cs := []checks.Check{checks.MustParse("tcp:1"), checks.MustParse("tcp:2"), checks.MustParse("ping")}
	var order []string // as the results came in
	var mu sync.Mutex
	// The refused port keeps retrying for an hour: it ends only when the
	// other two have reported, while Run still runs, and cancel. The open
	// port passes after its relay wait, long against the refused port's
	// interval, so the refused port has been tried again by then.
	rs := Run(ctx, Forwarded{Ports: map[int]int{1: closedPort(t), 2: open}}, cs, Options{Timeout: time.Hour, Interval: 20 * time.Millisecond, RelayWait: time.Second},
		func(i int, r Result) {
			mu.Lock()
			defer mu.Unlock()
			order = append(order, fmt.Sprintf("%d %s", i, r.Outcome))
			if len(order) == 2 {
				cancel()
			}
		})
	slices.Sort(order[:2])
	if strings.Join(order, ",") != "1 passed,2 skipped,0 failed" {
		t.Errorf("results came in as %v", order)
	}
	if len(rs) != 3 || rs[0].Outcome != Failed || !strings.Contains(rs[0].Detail, "stopped: context canceled") || rs[0].Attempts < 2 {
		t.Fatalf("%+v", rs)
	}
	if rs[1].Check != "tcp:2" || rs[1].Outcome != Passed || rs[2].Outcome != Skipped {
		t.Errorf("%+v", rs)
	}
}

func TestPing(t *testing.T) {
	_, _, err := icmpConn(net.IPv4(127, 0, 0, 1))
	if err != nil {
		// Neither socket is open to this user: the check says how to fix it.
		r := runOne(context.Background(), IP("127.0.0.1"), checks.MustParse("ping"), fast)
		if r.Outcome != Failed || !strings.Contains(r.Detail, "ping_group_range") || !strings.Contains(r.Detail, "CAP_NET_RAW") || r.Attempts != 1 {
			t.Errorf("%+v", r)
		}
		t.Skipf("no ICMP socket for uid %d (%v); checked the error instead", os.Geteuid(), err)
	}
	r := runOne(context.Background(), IP("127.0.0.1"), checks.MustParse("ping"), fast)
	if r.Outcome != Passed || !strings.HasPrefix(r.Detail, "echo reply in ") || r.Target != "127.0.0.1" {
		t.Errorf("ping 127.0.0.1: %+v", r)
	}
	// An address of TEST-NET-2 (RFC 5737) answers nobody, unless this
	// host's network says otherwise.
	r = runOne(context.Background(), IP("198.51.100.77"), checks.MustParse("ping"), fast)
	if r.Outcome == Passed {
		t.Logf("198.51.100.77 answers ping on this network: the no-reply case is not covered here")
	} else if r.Outcome != Failed || r.Attempts < 2 {
		t.Errorf("ping 198.51.100.77: %+v", r)
	}
	r = runOne(context.Background(), IP("::1"), checks.MustParse("ping"), fast)
	if r.Outcome != Failed || !strings.Contains(r.Detail, "only IPv4") || r.Attempts != 1 {
		t.Errorf("ping ::1: %+v", r)
	}
}

func TestChecksum(t *testing.T) {
	// RFC 1071's example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2.
	if got := checksum([]byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}); got != ^uint16(0xddf2) {
		t.Errorf("checksum %04x", got)
	}
}

// inNetns marks the test binary re-run inside its own network namespace.
const inNetns = "PODVM_PROBE_IN_NETNS"

// TestPingWithoutPrivilege pings through an unprivileged ICMP datagram
// socket, the way a user without CAP_NET_RAW does: in a network namespace
// of its own whose net.ipv4.ping_group_range admits this group (the host's
// setting is left alone), where the datagram socket is tried first.
func TestPingWithoutPrivilege(t *testing.T) {
	if os.Getenv(inNetns) == "1" {
		c, _, err := icmpConn(net.IPv4(127, 0, 0, 1))
		if err != nil {
			t.Fatal(err)
		}
		_, dgram := c.(*net.UDPConn)
		c.Close()
		if !dgram {
			t.Fatalf("got a %T, want the datagram socket", c)
		}
		r := runOne(context.Background(), IP("127.0.0.1"), checks.MustParse("ping"), fast)
		if r.Outcome != Passed {
			t.Fatalf("ping 127.0.0.1 over a datagram socket: %+v", r)
		}
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to make a network namespace")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("needs unshare (util-linux)")
	}
	script := `ip link set lo up && echo "0 2147483647" > /proc/sys/net/ipv4/ping_group_range && exec "$0" -test.run '^TestPingWithoutPrivilege$' -test.v`
	cmd := exec.Command(unshare, "--net", "sh", "-ec", script, os.Args[0])
	cmd.Env = append(os.Environ(), inNetns+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestPingWithoutPrivilege") {
		t.Fatalf("in a network namespace: %v\n%s", err, out)
	}
}
