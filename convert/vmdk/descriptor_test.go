package vmdk

import (
	"strings"
	"testing"
)

func TestParseDescriptor(t *testing.T) {
	cases := []struct {
		name    string
		text    string
		want    Descriptor
		wantErr string
	}{
		{
			name: "twoGbMaxExtentFlat",
			text: "# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType=\"twoGbMaxExtentFlat\"\n\n" +
				"RW 4192256 FLAT \"d-f001.vmdk\" 0\nRW 2048 FLAT \"d-f002.vmdk\" 0\n\n#DDB\nddb.adapterType = \"lsilogic\"\n",
			want: Descriptor{Version: 1, CID: 0xfffffffe, ParentCID: noParent, CreateType: "twoGbMaxExtentFlat",
				Extents: []ExtentDesc{{Access: "RW", Sectors: 4192256, Type: ExtentFlat, File: "d-f001.vmdk"}, {Access: "RW", Sectors: 2048, Type: ExtentFlat, File: "d-f002.vmdk"}}},
		},
		{
			name: "vmfs delta with CRLF and a quoted name with spaces",
			text: "# Disk DescriptorFile\r\nversion=1\r\nCID=0a0b0c0d\r\nparentCID=01020304\r\ncreateType=\"vmfsSparse\"\r\nparentFileNameHint=\"my vm.vmdk\"\r\nRW 8 VMFS \"my vm-flat.vmdk\"\r\nRDONLY 16 ZERO\r\n",
			want: Descriptor{Version: 1, CID: 0x0a0b0c0d, ParentCID: 0x01020304, CreateType: "vmfsSparse", ParentFileNameHint: "my vm.vmdk",
				Extents: []ExtentDesc{{Access: "RW", Sectors: 8, Type: ExtentVMFS, File: "my vm-flat.vmdk"}, {Access: "RDONLY", Sectors: 16, Type: ExtentZero}}},
		},
		{name: "no extents", text: "# Disk DescriptorFile\nversion=1\n", wantErr: "no extents"},
		{name: "not a descriptor", text: "\x00\x00", wantErr: "not a VMDK descriptor"},
		{name: "bad size", text: "# Disk DescriptorFile\nRW -5 FLAT \"x\" 0\n", wantErr: "offset 22"},
		{name: "unknown type", text: "# Disk DescriptorFile\nRW 5 TAPE \"x\" 0\n", wantErr: "unknown extent type"},
		{name: "unterminated quote", text: "# Disk DescriptorFile\nRW 5 FLAT \"x 0\n", wantErr: "unterminated"},
		{name: "no file", text: "# Disk DescriptorFile\nRW 5 SPARSE\n", wantErr: "names no file"},
		{name: "bad CID", text: "# Disk DescriptorFile\nCID=xyz\nRW 5 ZERO\n", wantErr: "bad CID"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := ParseDescriptor("d.vmdk", 0, []byte(c.text))
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) || !strings.Contains(err.Error(), "d.vmdk") {
					t.Fatalf("error %v, want one naming d.vmdk and %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.CID != c.want.CID || d.ParentCID != c.want.ParentCID || d.CreateType != c.want.CreateType ||
				d.ParentFileNameHint != c.want.ParentFileNameHint || len(d.Extents) != len(c.want.Extents) {
				t.Fatalf("got %+v, want %+v", d, c.want)
			}
			for i, e := range d.Extents {
				e.Line, e.LineNo = 0, 0
				if e != c.want.Extents[i] {
					t.Errorf("extent %d: got %+v, want %+v", i, e, c.want.Extents[i])
				}
			}
		})
	}
}

// TestDescriptorLineNumbers checks the line numbers that refusals name.
func TestDescriptorLineNumbers(t *testing.T) {
	text := "# Disk DescriptorFile\r\nversion=1\r\n\r\n# comment\r\nparentFileNameHint=\"base.vmdk\"\r\nRW 8 FLAT \"a\" 0\r\nRW 8 ZERO\r\nRW 8 FLAT \"b\" 0"
	d, err := ParseDescriptor("d.vmdk", 0, []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if d.ParentLine != 5 {
		t.Errorf("parentFileNameHint on line %d, want 5", d.ParentLine)
	}
	for i, want := range []int{6, 7, 8} {
		if got := d.Extents[i].LineNo; got != want {
			t.Errorf("extent %d on line %d, want %d", i, got, want)
		}
	}
}
