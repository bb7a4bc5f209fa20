package plan

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/podvm-migrate/podvm-migrate/discover"
)

// lineOf is the 1-based line of the first occurrence of s in text.
func lineOf(t *testing.T, text, s string) int {
	t.Helper()
	i := strings.Index(text, s)
	if i < 0 {
		t.Fatalf("%q not in the document", s)
	}
	return strings.Count(text[:i], "\n") + 1
}

// TestPlanYAMLErrorsNameLineVMField edits a written plan the way people
// mistype it and checks that the error names the line, the VM and the
// field in YAML's words, and that a miscased key is refused.
func TestPlanYAMLErrorsNameLineVMField(t *testing.T) {
	inv := discover.NewInventory()
	db := cleanVM("db01")
	db.Hardware.MemoryMiB = 3072
	inv.VMs = []discover.VM{cleanVM("web01"), db}
	p, err := NewPlan(inv, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := yaml.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	good := string(b)
	cases := []struct {
		name     string
		old, new string // the edit, on its first occurrence
		crlf     bool   // written with Windows line ends
		want     []string
		line     string // the text whose line the error must name ("" : new)
	}{
		{"not a number", "memoryMiB: 3072", "memoryMiB: abc", false,
			[]string{`vms[1] (db01): spec.memoryMiB: "abc": want a whole number`}, ""},
		{"misspelled key", "memoryMiB: 3072", "memroyMiB: 3072", false,
			[]string{`vms[1] (db01): spec: unknown key "memroyMiB": did you mean "memoryMiB"?`}, ""},
		{"miscased key", "memoryMiB: 3072", "memoryMib: 3072", false,
			[]string{`vms[1] (db01): spec: unknown key "memoryMib": keys are case-sensitive, did you mean "memoryMiB"?`}, ""},
		{"miscased key, CRLF", "memoryMiB: 3072", "MemoryMiB: 3072", true,
			[]string{`unknown key "MemoryMiB"`, "case-sensitive"}, ""},
		{"number too large", "memoryMiB: 3072", "memoryMiB: 99999999999999999999", false,
			[]string{`spec.memoryMiB: "99999999999999999999": out of range`}, ""},
		{"bool as text", "type: bios", "type: bios\n      secureBoot: maybe", false,
			[]string{`vms[1] (db01): spec.firmware.secureBoot: "maybe": want true or false`}, "secureBoot: maybe"},
		{"key twice", "memoryMiB: 3072", "memoryMiB: 3072\n    memoryMiB: 4096", false,
			[]string{`vms[1] (db01): spec.memoryMiB: given twice (also on line`}, "memoryMiB: 4096"},
		{"mapping where a list belongs", "    disks:\n", "    disks:\n      bogus: 1\n    olddisks:\n", false,
			[]string{`vms[1] (db01): spec.disks: a mapping: want a list`}, "bogus: 1"},
		{"top-level typo", "kind: Plan", "kind: Plan\nvm: []", false, []string{`unknown key "vm": did you mean "vms"?`}, "vm: []"},
		// The YAML parser names the line before the tab.
		{"tab indentation", "memoryMiB: 3072", "memoryMiB: 3072\n\tmachineType: q35", false, []string{"not valid YAML"}, "memoryMiB: 3072"},
		{"clean, CRLF", "", "", true, nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc := good
			if c.old != "" {
				if !strings.Contains(doc, c.old) {
					if c.want == nil {
						t.Skipf("%q not in this plan", c.old)
					}
					t.Fatalf("%q not in the plan", c.old)
				}
				// The edit goes into db01, the second VM.
				i := strings.Index(doc, "name: db01")
				if j := strings.Index(doc[max(i, 0):], c.old); i >= 0 && j >= 0 {
					doc = doc[:i+j] + c.new + doc[i+j+len(c.old):]
				} else {
					doc = strings.Replace(doc, c.old, c.new, 1)
				}
			}
			line := 0
			if len(c.want) > 0 {
				at := c.line
				if at == "" {
					at = c.new
				}
				line = lineOf(t, doc, at)
			}
			if c.crlf {
				doc = strings.ReplaceAll(doc, "\n", "\r\n")
			}
			_, err := UnmarshalPlan([]byte(doc))
			if len(c.want) == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var de *DocError
			if !errors.As(err, &de) {
				t.Fatalf("error %v (%T), want a *DocError", err, err)
			}
			if de.Line != line {
				t.Errorf("line %d, want %d: %v", de.Line, line, err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "JSON") || strings.Contains(err.Error(), "Go struct") {
				t.Errorf("error speaks JSON/Go: %v", err)
			}
		})
	}
}

// TestPlanJSONErrors: a plan written as JSON gets the same checks.
func TestPlanJSONErrors(t *testing.T) {
	inv := discover.NewInventory()
	inv.VMs = []discover.VM{cleanVM("web01")}
	p, err := NewPlan(inv, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := yaml.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	js, err := yaml.YAMLToJSON(b)
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.Replace(string(js), `"memoryMiB":1024`, `"memoryMiB":"1024"`, 1)
	if doc == string(js) {
		t.Fatalf("no memoryMiB in %s", js)
	}
	_, err = UnmarshalPlan([]byte(doc))
	if err == nil || !strings.Contains(err.Error(), `line 1: vms[0] (web01): spec.memoryMiB: "1024": want a whole number`) {
		t.Errorf("error %v", err)
	}
	if _, err := UnmarshalPlan(js); err != nil {
		t.Errorf("the JSON plan itself is refused: %v", err)
	}
}

func TestMappingFileErrors(t *testing.T) {
	cases := []struct {
		name, doc string
		want      string // empty: accepted
	}{
		{"clean, CRLF", "network:\r\n  VM Network: pod\r\n  DMZ: default/dmz\r\nstorage:\r\n  datastore1: fast\r\n", ""},
		{"misspelled section", "network:\n  VM Network: pod\nstorgae:\n  ds1: fast\n", `maps.yaml:3: unknown key "storgae": did you mean "storage"?`},
		{"miscased section", "Network:\n  VM Network: pod\n", `maps.yaml:1: unknown key "Network": keys are case-sensitive, did you mean "network"?`},
		{"list instead of a map", "network:\n  - VM Network=pod\n", `maps.yaml:2: network: a list: want a mapping`},
		{"source twice", "storage:\n  ds1: fast\n  ds1: slow\n", `maps.yaml:3: storage.ds1: given twice (also on line 2)`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "maps.yaml")
			if err := os.WriteFile(f, []byte(c.doc), 0o644); err != nil {
				t.Fatal(err)
			}
			m, err := LoadMappings(f)
			if c.want == "" {
				if err != nil || len(m.Network)+len(m.Storage) == 0 {
					t.Fatalf("%+v, %v", m, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want %q", err, c.want)
			}
		})
	}
}
