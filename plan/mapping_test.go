package plan

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseMapping(t *testing.T) {
	cases := []struct {
		in      string
		want    Mapping
		wantErr string
	}{
		{"VM Network=pod", Mapping{"VM Network", "pod"}, ""},
		{" DMZ = prod/dmz ", Mapping{"DMZ", "prod/dmz"}, ""},
		{"*=default", Mapping{"*", "default"}, ""},
		{"a=b=c", Mapping{"a=b", "c"}, ""},
		{"pod", Mapping{}, "SOURCE=TARGET"},
		{"=pod", Mapping{}, "SOURCE=TARGET"},
		{"x=", Mapping{}, "SOURCE=TARGET"},
		{"[x=pod", Mapping{}, "without ']'"},
	}
	for _, c := range cases {
		got, err := ParseMapping(c.in)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("ParseMapping(%q) error %v, want %q", c.in, err, c.wantErr)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("ParseMapping(%q) = %+v, %v", c.in, got, err)
		}
	}
}

func TestParseNetworkMapping(t *testing.T) {
	cases := []struct {
		in          string
		want        Mapping
		runtimeOnly bool
		wantErr     string
	}{
		{"*=libvirt:default", Mapping{"*", "libvirt:default"}, true, ""},
		{"VM Network=bridge:br0", Mapping{"VM Network", "bridge:br0"}, true, ""},
		{"DMZ=prod/dmz", Mapping{"DMZ", "prod/dmz"}, false, ""},
		{"*=pod", Mapping{"*", "pod"}, false, ""},
		{"*=libvirt:", Mapping{}, false, "libvirt:NAME"},
		{"*=bridge:", Mapping{}, false, "bridge:NAME"},
		{"*=libvirt:a/b", Mapping{}, false, "libvirt:NAME"},
		{"*=bridge:a-very-long-bridge", Mapping{}, false, "at most 15"},
		{"*=ovs:br0", Mapping{}, false, "libvirt:NAME or bridge:NAME"},
		{"*", Mapping{}, false, "SOURCE=TARGET"},
	}
	for _, c := range cases {
		got, err := ParseNetworkMapping(c.in)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("ParseNetworkMapping(%q) error %v, want %q", c.in, err, c.wantErr)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("ParseNetworkMapping(%q) = %+v, %v", c.in, got, err)
		}
		if IsRuntimeOnlyNetwork(got.Target) != c.runtimeOnly {
			t.Errorf("IsRuntimeOnlyNetwork(%q) = %v, want %v", got.Target, !c.runtimeOnly, c.runtimeOnly)
		}
	}
}

func TestLoadMappings(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o644)
		return p
	}
	good := write("good.yaml", "network:\n  \"*\": pod\n  DMZ: prod/dmz\nstorage:\n  ds1: fast\n")
	m, err := LoadMappings(good)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Network) != 2 || m.Network[0].Source != "DMZ" || m.Storage[0] != (Mapping{"ds1", "fast"}) {
		t.Errorf("mappings %+v (exact names must sort before globs)", m)
	}
	if got, _ := lookup(m.Network, "DMZ"); got != "prod/dmz" {
		t.Errorf("lookup DMZ = %q", got)
	}
	if got, _ := lookup(m.Network, "VM Network"); got != "pod" {
		t.Errorf("lookup VM Network = %q", got)
	}
	bad := map[string]string{
		"unknown key":  write("k.yaml", "networks:\n  a: b\n"),
		"empty target": write("e.yaml", "storage:\n  ds1: \"\"\n"),
		"not yaml":     write("n.yaml", "network: [\n"),
		"missing":      filepath.Join(dir, "nope.yaml"),
		"bad network":  write("t.yaml", "network:\n  a: libvirt:\n"),
	}
	for name, file := range bad {
		_, err := LoadMappings(file)
		if err == nil || !strings.Contains(err.Error(), filepath.Base(file)) {
			t.Errorf("%s: error %v does not name the file", name, err)
		}
	}
}
