package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"github.com/podvm-migrate/podvm-migrate/podvm"
	"github.com/podvm-migrate/podvm-migrate/testenv/libvirtd"
)

// TestDomainXMLNetworks renders a NIC on each kind of network, and the
// port forwards on the first NIC with user networking.
func TestDomainXMLNetworks(t *testing.T) {
	cases := []struct {
		name     string
		networks []string // one NIC each
		publish  bool
		want     []string
		notWant  []string
		wantErr  error
	}{
		{"user networking by default", []string{""},
			false, []string{`<interface type="user">`, `address="00:50:56:00:00:00"`}, []string{`type="network"`, `type="bridge"`}, nil},
		{"the pod network is user networking", []string{"pod"},
			false, []string{`<interface type="user">`}, nil, nil},
		{"a Multus network is user networking", []string{"prod/dmz"},
			false, []string{`<interface type="user">`}, nil, nil},
		{"a libvirt network", []string{"libvirt:default"},
			false, []string{`<interface type="network">`, `<source network="default">`, `address="00:50:56:00:00:00"`, `<model type="virtio">`}, []string{`type="user"`}, nil},
		{"a host bridge", []string{"bridge:br0"},
			false, []string{`<interface type="bridge">`, `<source bridge="br0">`, `address="00:50:56:00:00:00"`}, []string{`type="user"`}, nil},
		{"one NIC on each", []string{"libvirt:lan", "bridge:br1", "pod"},
			false, []string{`<source network="lan">`, `<source bridge="br1">`, `<interface type="user">`, `address="00:50:56:00:00:01"`, `address="00:50:56:00:00:02"`}, nil, nil},
		{"port forwards go to the first NIC on user networking", []string{"libvirt:default", "pod"},
			true, []string{`<source network="default">`, `hostfwd=tcp::8080-:80`, `mac=00:50:56:00:00:01`}, []string{`type="user"`, `mac=00:50:56:00:00:00`}, nil},
		{"port forwards need a NIC on user networking", []string{"libvirt:default", "bridge:br0"},
			true, nil, nil, ErrUnsatisfiable},
		{"a libvirt network needs a name", []string{"libvirt:"},
			false, nil, nil, errors.New("libvirt:NAME")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := podvm.DefaultSpec("web01", 1<<30)
			s.NICs = nil
			for i, n := range c.networks {
				s.NICs = append(s.NICs, podvm.NIC{Name: fmt.Sprintf("nic%d", i), Model: podvm.NICVirtio, MAC: fmt.Sprintf("00:50:56:00:00:%02X", i), Network: n})
			}
			p := domainParams{Domain: "podvm-web01", Type: "qemu", Spec: &s, Disks: []string{"/s/d.qcow2"}, Serial: "/s/serial.log", Meta: podMeta{Name: "web01"}}
			if c.publish {
				p.Publish = []PortForward{{Proto: "tcp", HostPort: 8080, GuestPort: 80}}
			}
			x, err := domainXMLFor(p)
			if c.wantErr != nil {
				if err == nil || !(errors.Is(err, c.wantErr) || strings.Contains(err.Error(), c.wantErr.Error())) {
					t.Fatalf("error %v, want %v", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range c.want {
				if !strings.Contains(x, w) {
					t.Errorf("lacks %s\n%s", w, x)
				}
			}
			for _, w := range c.notWant {
				if strings.Contains(x, w) {
					t.Errorf("has %s\n%s", w, x)
				}
			}
		})
	}
}

func TestReadinessAddresses(t *testing.T) {
	nic := []liveNIC{{name: "nic0", mac: "00:50:56:00:00:01", net: NICNetwork{Kind: NetworkLibvirt, Name: "default"}}}
	cases := []struct {
		line string
		nics []liveNIC
		want []Address
	}{
		{"PODVM-READY uptime=3.1 ip=192.168.122.50 kernel=6.1", nic,
			[]Address{{IP: "192.168.122.50", NIC: "nic0", MAC: "00:50:56:00:00:01", Network: "libvirt:default", Source: AddressFromReadiness}}},
		{"PODVM-READY uptime=3.1 ip=10.0.2.15/24", nil, []Address{{IP: "10.0.2.15", Source: AddressFromReadiness}}},
		{"PODVM-READY uptime=3.1 ip=none kernel=6.1", nic, nil},
		{"PODVM-READY uptime=3.1 kernel=6.1", nic, nil},
		{"", nic, nil},
	}
	for _, c := range cases {
		got := readinessAddresses(&PodVM{ReadyLine: c.line}, c.nics)
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%q: %+v, want %+v", c.line, got, c.want)
		}
	}
}

// testNetwork defines a NAT network of the test's own, inactive, and
// removes it when the test ends. Its bridge runs no spanning tree, so the
// guest's port forwards at once and its few seconds of DHCP tries reach
// dnsmasq.
func testNetwork(t *testing.T) string {
	t.Helper()
	n := (os.Getpid() + int(time.Now().UnixNano()%1000)) % 250
	name := fmt.Sprintf("podvm-t7-%d", n)
	x, err := libvirtd.NetworkXML(libvirtd.NetworkOptions{Name: name, Bridge: fmt.Sprintf("pvt7n%d", n), Subnet: fmt.Sprintf("10.252.%d.1/24", n)})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := libvirt.NewConnect(DefaultURI)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	net, err := conn.NetworkDefineXML(x)
	if err != nil {
		t.Fatal(err)
	}
	net.Free()
	t.Cleanup(func() {
		_ = exec.Command("virsh", "-c", DefaultURI, "net-destroy", name).Run()
		_ = exec.Command("virsh", "-c", DefaultURI, "net-undefine", name).Run()
	})
	return name
}

func networkActive(t *testing.T, name string) bool {
	t.Helper()
	conn, err := libvirt.NewConnect(DefaultURI)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	net, err := conn.LookupNetworkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	defer net.Free()
	active, err := net.IsActive()
	if err != nil {
		t.Fatal(err)
	}
	return active
}

// TestRunNetworkMissing asks for a libvirt network and a bridge the host
// lacks: each run fails before any domain exists, naming the network and
// how to make it.
func TestRunNetworkMissing(t *testing.T) {
	f := setup(t)
	cases := []struct {
		network  string
		override bool // given as MachineConfig.Network (run --network), the spec's NIC on pod
		err      error
		want     []string
	}{
		{"libvirt:podvm-no-such-net", false, ErrNetworkNotFound, []string{"podvm-no-such-net", "virsh net-define", "virsh net-start podvm-no-such-net"}},
		{"libvirt:podvm-no-such-net", true, ErrNetworkNotFound, []string{"podvm-no-such-net"}},
		{"bridge:pvnobr0", false, ErrBridgeNotFound, []string{"pvnobr0", "ip link add pvnobr0 type bridge"}},
		{"bridge:lo", false, ErrBridgeNotFound, []string{"not a bridge"}},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s override=%v", c.network, c.override), func(t *testing.T) {
			name := f.podName(t, "nonet")
			spec := podvm.DefaultSpec("guest", 0)
			spec.MemoryMiB = 256
			cfg := MachineConfig{Name: name, Image: f.layout, Spec: &spec, Accel: f.accel}
			if c.override {
				spec.NICs[0].Network, cfg.Network = "pod", c.network
			} else {
				spec.NICs[0].Network = c.network
			}
			_, err := f.rt.Run(context.Background(), cfg)
			if !errors.Is(err, c.err) {
				t.Fatalf("error %v, want %v", err, c.err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if _, err := f.rt.Get(context.Background(), name); !errors.Is(err, ErrNotFound) {
				t.Errorf("a failed run left pod VM %s behind: %v", name, err)
			}
			if c.override && spec.NICs[0].Network != "pod" {
				t.Errorf("--network changed the caller's spec to %q", spec.NICs[0].Network)
			}
		})
	}
}

// TestRunOnInactiveNetwork boots the test guest with its NIC on a libvirt
// network that is defined but not running: the runtime starts it, the
// guest takes a DHCP lease there, and list shows that address, from the
// network's leases, as the readiness line's ip= says.
func TestRunOnInactiveNetwork(t *testing.T) {
	f := setup(t)
	libvirtd.NetworkForTest(t, "", libvirtd.DefaultNetworkOptions()) // skips when this host cannot make bridges
	network := testNetwork(t)
	if networkActive(t, network) {
		t.Fatalf("network %s active before the run", network)
	}
	name := f.podName(t, "net")
	spec := podvm.DefaultSpec("guest", 0)
	spec.MemoryMiB = 256
	spec.NICs[0].MAC, spec.NICs[0].Network = "00:50:56:7e:57:01", "libvirt:"+network
	p := f.runReady(t, MachineConfig{Name: name, Image: f.layout, Spec: &spec, Fast: true})
	if !networkActive(t, network) {
		t.Errorf("network %s not started", network)
	}
	ip := ""
	for _, fld := range strings.Fields(p.ReadyLine) {
		if v, ok := strings.CutPrefix(fld, "ip="); ok {
			ip = v
		}
	}
	if !strings.HasPrefix(ip, "10.252.") {
		t.Fatalf("readiness line %q: want an address on %s's 10.252.x.0/24", p.ReadyLine, network)
	}
	// dnsmasq tells libvirt of the lease through a helper, a moment after
	// the guest has it.
	var got []Address
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		q, err := f.rt.Get(ctx, name)
		if err != nil {
			return false, err
		}
		got = q.Addresses
		return len(got) > 0 && got[0].Source == AddressFromLease, nil
	})
	want := Address{IP: ip, NIC: "nic0", MAC: "00:50:56:7e:57:01", Network: "libvirt:" + network, Source: AddressFromLease}
	if err != nil || len(got) != 1 || got[0] != want {
		t.Errorf("addresses %+v (%v), want [%+v]", got, err, want)
	}
	f.stopAndRemove(t, p)
}

// TestRunOnBridge boots the test guest with its NIC on a host bridge the
// test makes: the domain's tap device joins that bridge.
func TestRunOnBridge(t *testing.T) {
	f := setup(t)
	br := fmt.Sprintf("pvt7b%d", os.Getpid()%10000)
	if out, err := exec.Command("ip", "link", "add", br, "type", "bridge").CombinedOutput(); err != nil {
		if strings.Contains(string(out), "Operation not permitted") {
			t.Skipf("this host cannot create bridges: %s", out)
		}
		t.Fatalf("ip link add %s: %v: %s", br, err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", br).Run() })
	if out, err := exec.Command("ip", "link", "set", br, "up").CombinedOutput(); err != nil {
		t.Fatalf("ip link set %s up: %v: %s", br, err, out)
	}
	name := f.podName(t, "br")
	spec := podvm.DefaultSpec("guest", 0)
	spec.MemoryMiB = 256
	spec.NICs[0].MAC, spec.NICs[0].Network = "00:50:56:7e:57:02", "bridge:"+br
	p := f.runReady(t, MachineConfig{Name: name, Image: f.layout, Spec: &spec, Fast: true})
	ports, err := os.ReadDir(filepath.Join(sysClassNet, br, "brif"))
	if err != nil || len(ports) != 1 {
		t.Errorf("bridge %s has ports %v (%v), want the pod VM's tap", br, ports, err)
	}
	if x := readFile(t, filepath.Join(p.Dir, "domain.xml")); !strings.Contains(x, `<source bridge="`+br+`">`) {
		t.Errorf("domain XML lacks the bridge:\n%s", x)
	}
	f.stopAndRemove(t, p)
}

// TestLiveNICs pairs the spec's NICs with a running domain's interfaces:
// by MAC, or, for a NIC the spec gives no MAC, by network; and tells a
// connected guest agent from an absent one.
func TestLiveNICs(t *testing.T) {
	x := `<domain type="qemu"><name>podvm-x</name><devices>
<interface type="network"><mac address="52:54:00:aa:bb:cc"/><source network="default"/></interface>
<interface type="bridge"><mac address="00:50:56:00:00:01"/><source bridge="br0"/></interface>
<channel type="unix"><target type="virtio" name="org.qemu.guest_agent.0" state="%s"/></channel>
</devices></domain>`
	p := &PodVM{Spec: podvm.Spec{NICs: []podvm.NIC{
		{Name: "nic0", MAC: "00:50:56:00:00:01", Network: "bridge:br0"},
		{Name: "nic1", Network: "libvirt:default"},
		{Name: "nic2", Network: "pod"}, // on QEMU's command line: no interface
	}}}
	var d libvirtxml.Domain
	if err := d.Unmarshal(fmt.Sprintf(x, "connected")); err != nil {
		t.Fatal(err)
	}
	got := liveNICs(p, &d)
	want := []liveNIC{
		{name: "nic0", mac: "00:50:56:00:00:01", net: NICNetwork{Kind: NetworkBridge, Name: "br0"}},
		{name: "nic1", mac: "52:54:00:aa:bb:cc", net: NICNetwork{Kind: NetworkLibvirt, Name: "default"}},
		{name: "nic2", net: NICNetwork{Kind: NetworkUser}},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("live NICs %+v, want %+v", got, want)
	}
	if !agentConnected(&d) {
		t.Error("a connected agent channel is not seen")
	}
	var off libvirtxml.Domain
	if err := off.Unmarshal(fmt.Sprintf(x, "disconnected")); err != nil {
		t.Fatal(err)
	}
	if agentConnected(&off) {
		t.Error("a disconnected agent channel is taken for an agent")
	}
}
