package output

import (
	"bytes"
	"strings"
	"testing"
)

type pair struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}

type pairs []pair

func (p pairs) Header() []string { return []string{"name", "count"} }
func (p pairs) Rows() [][]string {
	var r [][]string
	for _, x := range p {
		r = append(r, []string{x.Name, strings.Repeat("*", x.Count)})
	}
	return r
}

func TestPrint(t *testing.T) {
	v := pairs{{"web01", 2}, {"database-long-name", 1}}
	cases := []struct {
		format Format
		want   string
	}{
		{JSON, "[\n  {\n    \"name\": \"web01\",\n    \"count\": 2\n  },\n  {\n    \"name\": \"database-long-name\",\n    \"count\": 1\n  }\n]\n"},
		{YAML, "- count: 2\n  name: web01\n- count: 1\n  name: database-long-name\n"},
		{Table, "NAME                COUNT\nweb01               **\ndatabase-long-name  *\n"},
		{Auto, "[\n  {\n    \"name\": \"web01\",\n"}, // not a terminal: JSON
	}
	for _, c := range cases {
		t.Run(string(c.format), func(t *testing.T) {
			var b bytes.Buffer
			if err := Print(&b, c.format, v); err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(b.String(), c.want) {
				t.Errorf("got\n%s\nwant\n%s", b.String(), c.want)
			}
		})
	}
}

func TestTableFallsBackToYAML(t *testing.T) {
	var b bytes.Buffer
	if err := Print(&b, Table, map[string]int{"vms": 3}); err != nil {
		t.Fatal(err)
	}
	if b.String() != "vms: 3\n" {
		t.Errorf("got %q", b.String())
	}
}

func TestParseFormat(t *testing.T) {
	for _, ok := range []string{"json", "YAML", "table", ""} {
		if _, err := ParseFormat(ok); err != nil {
			t.Errorf("ParseFormat(%q): %v", ok, err)
		}
	}
	if _, err := ParseFormat("xml"); err == nil || !strings.Contains(err.Error(), "json, yaml or table") {
		t.Errorf("ParseFormat(xml) error %v", err)
	}
}
