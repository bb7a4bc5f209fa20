package libvirtd

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"libvirt.org/go/libvirt"
)

// TestEnsureNetwork defines and starts a NAT network of its own (not
// "default", which other tests share), finds it running on the next call,
// and starts it again once it is stopped.
func TestEnsureNetwork(t *testing.T) {
	n := os.Getpid() % 250
	o := NetworkOptions{Name: fmt.Sprintf("podvm-te-%d", n), Bridge: fmt.Sprintf("pvte%d", n), Subnet: fmt.Sprintf("10.251.%d.1/24", n)}
	t.Cleanup(func() {
		_ = exec.Command("virsh", "-c", "qemu:///system", "net-destroy", o.Name).Run()
		_ = exec.Command("virsh", "-c", "qemu:///system", "net-undefine", o.Name).Run()
	})
	st := NetworkForTest(t, "", o)
	if !st.Defined || !st.Started || st.Bridge != o.Bridge || st.Address != o.Subnet {
		t.Errorf("first call: %+v, want it defined and started on %s with %s", st, o.Bridge, o.Subnet)
	}
	if _, err := os.Stat("/sys/class/net/" + o.Bridge + "/bridge"); err != nil {
		t.Errorf("bridge %s not on the host: %v", o.Bridge, err)
	}
	if st := NetworkForTest(t, "", o); st.Defined || st.Started {
		t.Errorf("second call: %+v, want it found running", st)
	}
	conn, err := libvirt.NewConnect("qemu:///system")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	net, err := conn.LookupNetworkByName(o.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer net.Free()
	if err := net.Destroy(); err != nil {
		t.Fatal(err)
	}
	if st := NetworkForTest(t, "", o); st.Defined || !st.Started {
		t.Errorf("after stopping it: %+v, want it started again", st)
	}
}

func TestNetworkXML(t *testing.T) {
	x, err := NetworkXML(DefaultNetworkOptions())
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{`<name>default</name>`, `<forward mode="nat">`, `<bridge name="virbr0" stp="on"`, `address="192.168.122.1" netmask="255.255.255.0"`,
		`<range start="192.168.122.2" end="192.168.122.254">`} {
		if !strings.Contains(x, w) {
			t.Errorf("lacks %s:\n%s", w, x)
		}
	}
	if _, err := NetworkXML(NetworkOptions{Name: "x", Bridge: "b", Subnet: "10.0.0.0/16"}); err == nil {
		t.Error("a /16 was accepted")
	}
}
