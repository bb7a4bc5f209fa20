package debian

import (
	"strings"
	"testing"
)

func TestParseNet(t *testing.T) {
	for _, c := range []struct {
		in, want, err string
	}{
		{in: "", want: ""},
		{in: "none", want: ""},
		{in: "dhcp", want: "dhcp"},
		{in: "static:192.168.122.50/24", want: "static:192.168.122.50/24"},
		{in: "static:10.1.2.3/16,gw=10.1.0.1", want: "static:10.1.2.3/16,gw=10.1.0.1"},
		{in: "static:192.168.122.50", err: "want an IPv4 ADDR/PREFIX"},
		{in: "static:fd00::5/64", err: "want an IPv4 ADDR/PREFIX"},
		{in: "static:192.168.122.50/24,gw=10.0.0.1", err: "outside 192.168.122.0/24"},
		{in: "static:192.168.122.50/24,dns=1.1.1.1", err: "only gw=GW"},
		{in: "bridge", err: "want dhcp or static"},
	} {
		n, err := ParseNet(c.in)
		switch {
		case c.err != "":
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseNet(%q) = %v, want an error with %q", c.in, err, c.err)
			}
		case err != nil:
			t.Errorf("ParseNet(%q): %v", c.in, err)
		case n.String() != c.want:
			t.Errorf("ParseNet(%q) = %q, want %q", c.in, n, c.want)
		}
	}
}

// TestNetRecipe: each network is its own recipe (cache key) with ifupdown
// bound to the vmxnet3 name, and the default recipe carries no network.
func TestNetRecipe(t *testing.T) {
	static, _ := ParseNet("static:192.168.122.50/24,gw=192.168.122.1")
	dhcp, _ := ParseNet("dhcp")
	other, _ := ParseNet("static:192.168.122.51/24")
	keys := map[string]string{}
	for _, n := range []Net{{}, static, dhcp, other} {
		k := debianRecipeKey(2048, n)
		if prev, ok := keys[k]; ok {
			t.Errorf("networks %q and %q share the cache key %s", prev, n, k)
		}
		keys[k] = n.String()
	}
	if f := debianFiles("U", Net{}); f["etc/network/interfaces"] != "" || strings.Contains(f["usr/local/sbin/podvm-ready"], "ip=") {
		t.Errorf("the default recipe has a network configuration: %q", f["etc/network/interfaces"])
	}
	for _, c := range []struct {
		net  Net
		want []string
	}{
		{static, []string{"auto ens192\n", "iface ens192 inet static\n", "\taddress 192.168.122.50/24\n", "\tgateway 192.168.122.1\n"}},
		{dhcp, []string{"auto ens192\n", "iface ens192 inet dhcp\n"}},
	} {
		f := debianFiles("U", c.net)
		for _, w := range c.want {
			if !strings.Contains(f["etc/network/interfaces"], w) {
				t.Errorf("%s: interfaces lacks %q:\n%s", c.net, w, f["etc/network/interfaces"])
			}
		}
		if !strings.Contains(f["usr/local/sbin/podvm-ready"], "ip=${ip}") {
			t.Errorf("%s: the readiness script does not print ip=", c.net)
		}
		if !strings.Contains(strings.Join(c.net.packages(), " "), "ifupdown") {
			t.Errorf("%s: ifupdown is not installed", c.net)
		}
	}
}
