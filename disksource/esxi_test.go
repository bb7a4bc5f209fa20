package disksource

import (
	"strings"
	"testing"
)

func TestESXiPath(t *testing.T) {
	cases := []struct {
		in      string
		ok      bool
		want    string // String() of the source; empty when err
		wantErr string
	}{
		{"/vmfs/volumes/datastore1/web01/web01.vmdk", true, "[datastore1] web01/web01.vmdk", ""},
		{"/vmfs/volumes/5f3c1a2b-8d9e0f11-2233-001122334455/db/db_1.vmdk", true, "[5f3c1a2b-8d9e0f11-2233-001122334455] db/db_1.vmdk", ""},
		{"/vmfs/volumes/My Datastore//vm//./disk.vmdk", true, "[My Datastore] vm/disk.vmdk", ""},
		{"/vmfs/volumes/ds1/vm/../../etc/passwd", true, "", `".." refused`},
		{"/vmfs/volumes/ds1", true, "", "want /vmfs/volumes/DATASTORE"},
		{"/vmfs/volumes//x.vmdk", true, "", "want /vmfs/volumes/DATASTORE"},
		{"/home/u/vm/disk.vmdk", false, "", ""},
		{"disk.vmdk", false, "", ""},
		{"[ds1] vm/disk.vmdk", false, "", ""},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			s, ok, err := ESXiPath(c.in)
			if ok != c.ok {
				t.Fatalf("ok %v, want %v", ok, c.ok)
			}
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) || !strings.Contains(err.Error(), c.in) {
					t.Fatalf("error %v, want %q and the path", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ok && (s.String() != c.want || s.Kind != KindDatastore) {
				t.Errorf("got %q (%v), want %q", s.String(), s.Kind, c.want)
			}
			if ok {
				back, err := Parse(s.String())
				if err != nil || back != s {
					t.Errorf("Parse(%q) = %+v, %v; want %+v", s.String(), back, err, s)
				}
			}
		})
	}
}
