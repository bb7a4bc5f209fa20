package disksource

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	cases := []struct {
		in   string
		want Source
		str  string // String(), when not in
	}{
		{in: "[datastore1] web01/web01.vmdk", want: Source{Kind: KindDatastore, Datastore: "datastore1", Path: "web01/web01.vmdk"}},
		{in: "[datastore 1] my vm/my vm.vmdk", want: Source{Kind: KindDatastore, Datastore: "datastore 1", Path: "my vm/my vm.vmdk"}},
		{in: "[ds]path.vmdk", want: Source{Kind: KindDatastore, Datastore: "ds", Path: "path.vmdk"}, str: "[ds] path.vmdk"},
		{in: "[ds]   /folder/disk.vmdk  ", want: Source{Kind: KindDatastore, Datastore: "ds", Path: "folder/disk.vmdk"}, str: "[ds] folder/disk.vmdk"},
		{in: "[vsanDatastore] 5f1c3a-uuid/db (1)_2.vmdk", want: Source{Kind: KindDatastore, Datastore: "vsanDatastore", Path: "5f1c3a-uuid/db (1)_2.vmdk"}},
		{in: "vm:web01/2000", want: Source{Kind: KindVM, VM: "web01", Disk: "2000"}},
		{in: "vm:web01/disk0", want: Source{Kind: KindVM, VM: "web01", Disk: "disk0"}},
		{in: "vm:folder/name/disk1", want: Source{Kind: KindVM, VM: "folder/name", Disk: "disk1"}},
		{in: "vm:/DC0/vm/apps/my vm/my vm_1.vmdk", want: Source{Kind: KindVM, VM: "/DC0/vm/apps/my vm", Disk: "my vm_1.vmdk"}},
		{in: "https://esx.example.com/folder/web01/web01.vmdk?dcPath=ha-datacenter&dsName=ds1",
			want: Source{Kind: KindURL}},
		{in: "http://127.0.0.1:8080/disk.qcow2", want: Source{Kind: KindURL}},
		{in: "HTTPS://vc/folder/x.vmdk", want: Source{Kind: KindURL}, str: "https://vc/folder/x.vmdk"},
		{in: "https://vc/folder/my%20vm/my%20vm.vmdk?dsName=datastore%201", want: Source{Kind: KindURL}},
		{in: "disk.vmdk", want: Source{Kind: KindFile, File: "disk.vmdk"}},
		{in: "vms/web01/web01.vmdk", want: Source{Kind: KindFile, File: "vms/web01/web01.vmdk"}},
		{in: "/var/lib/vms/my vm/my vm-flat.vmdk", want: Source{Kind: KindFile, File: "/var/lib/vms/my vm/my vm-flat.vmdk"}},
		{in: `C:\VMs\web01\web01.vmdk`, want: Source{Kind: KindFile, File: `C:\VMs\web01\web01.vmdk`}},
		{in: "C://VMs/web01.vmdk", want: Source{Kind: KindFile, File: "C://VMs/web01.vmdk"}},
		{in: "vm/web01.vmdk", want: Source{Kind: KindFile, File: "vm/web01.vmdk"}},
		{in: "./[ds] x.vmdk", want: Source{Kind: KindFile, File: "./[ds] x.vmdk"}},
		{in: "./vm:a/b", want: Source{Kind: KindFile, File: "./vm:a/b"}},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			got, err := Parse(c.in)
			if err != nil {
				t.Fatal(err)
			}
			if c.want.Kind == KindURL {
				if got.Kind != KindURL || got.URL == nil || got.URL.Host == "" {
					t.Fatalf("got %+v, want a URL", got)
				}
			} else if got != c.want {
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
			str := c.str
			if str == "" {
				str = c.in
			}
			if got.String() != str {
				t.Errorf("String() = %q, want %q", got.String(), str)
			}
			again, err := Parse(got.String())
			if err != nil || again.String() != got.String() || again.Kind != got.Kind {
				t.Errorf("Parse(String()) = %+v, %v: does not round-trip", again, err)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct{ in, want string }{
		{"", "empty disk source"},
		{"[datastore1 web01/web01.vmdk", `no "]" closes the datastore name`},
		{"[] web01/web01.vmdk", "empty datastore name"},
		{"[datastore1]", "no file after [datastore1]"},
		{"[datastore1]  / ", "no file after [datastore1]"},
		{"vm:web01", "vm:web01: the disk is missing: want vm:NAME/DISK"},
		{"vm:web01/", "the disk is missing"},
		{"vm:/disk0", "the VM name is missing"},
		{"vm:", "the VM name is missing"},
		{"https:///folder/x.vmdk", "no host"},
		{"https://vc/%zz", "invalid URL escape"},
		{"ftp://host/disk.vmdk", `scheme "ftp": want http or https`},
		{"s3://user:secret@bucket/disk.vmdk", `scheme "s3"`},
	}
	for _, c := range cases {
		_, err := Parse(c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%q): error %v, want one mentioning %q", c.in, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("Parse(%q): error %v shows the password", c.in, err)
		}
	}
}

func TestFileStringKeepsItAFile(t *testing.T) {
	for _, name := range []string{"[ds] x.vmdk", "vm:a/b", "https://x/y", "plain.vmdk", "/abs/[ds] x.vmdk"} {
		s := File(name)
		p, err := Parse(s.String())
		if err != nil || p.Kind != KindFile {
			t.Errorf("File(%q).String() = %q parses as %+v, %v; want a file", name, s.String(), p, err)
		}
	}
}

func TestKinds(t *testing.T) {
	for in, want := range map[string][2]bool{ // remote, needs vSphere
		"[ds] a.vmdk": {true, true},
		"vm:a/disk0":  {true, true},
		"https://h/a": {true, false},
		"a.vmdk":      {false, false},
	} {
		s, err := Parse(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := [2]bool{s.Remote(), s.NeedsVSphere()}; got != want {
			t.Errorf("%s: remote, needs vSphere = %v, want %v", in, got, want)
		}
	}
}
