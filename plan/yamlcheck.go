package plan

import (
	"encoding"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"

	yaml3 "go.yaml.in/yaml/v3"
)

// DocError is a mistake in a YAML or JSON document a user wrote or edited,
// placed by line and by the path of the key (e.g. vms[2] (web01): spec.memoryMiB).
type DocError struct {
	Line int    // 1-based; 0 when unknown
	Path string // where in the document, e.g. "vms[2] (web01): spec.memoryMiB"; empty at the top
	Msg  string // what is wrong, in YAML terms
}

func (e *DocError) Error() string {
	var b strings.Builder
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// In formats the error as FILE:LINE: PATH: MSG.
func (e *DocError) In(file string) string {
	at := file
	if e.Line > 0 {
		at = fmt.Sprintf("%s:%d", file, e.Line)
	}
	if e.Path != "" {
		return at + ": " + e.Path + ": " + e.Msg
	}
	return at + ": " + e.Msg
}

// checkDoc checks the YAML (or JSON) document data against the Go type of
// v before it is decoded, the way a reader of YAML expects: every key must
// be one of the type's fields, spelled in the same letter case; a key given
// twice, a mapping where a list belongs, "abc" where a number belongs are
// errors naming the line and the path. It does not decode.
func checkDoc(data []byte, v any) error {
	var doc yaml3.Node
	if err := yaml3.Unmarshal(data, &doc); err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		line := 0
		if rest, ok := strings.CutPrefix(msg, "line "); ok {
			if n, tail, ok := strings.Cut(rest, ": "); ok {
				if l, err := strconv.Atoi(n); err == nil {
					line, msg = l, tail
				}
			}
		}
		return &DocError{Line: line, Msg: "not valid YAML: " + msg}
	}
	if len(doc.Content) == 0 {
		return &DocError{Msg: "empty document"}
	}
	return checkNode(doc.Content[0], reflect.TypeOf(v), "")
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// checkNode checks node n against type t; path is where n is.
func checkNode(n *yaml3.Node, t reflect.Type, path string) error {
	for n.Kind == yaml3.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml3.ScalarNode && n.Tag == "!!null" {
		return nil // the zero value, as the decoder does
	}
	if reflect.PointerTo(t).Implements(jsonUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler) {
		return nil // e.g. time.Time: the decoder checks its own syntax
	}
	fail := func(format string, a ...any) error {
		return &DocError{Line: n.Line, Path: path, Msg: fmt.Sprintf(format, a...)}
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml3.MappingNode {
			return fail("%s: want a mapping of keys (%s)", describe(n), strings.Join(fieldNames(t), ", "))
		}
		fields := fieldsOf(t)
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			key := k.Value
			if line, dup := seen[key]; dup {
				return &DocError{Line: k.Line, Path: join(path, key), Msg: fmt.Sprintf("given twice (also on line %d)", line)}
			}
			seen[key] = k.Line
			f, ok := fields[key]
			if !ok {
				return &DocError{Line: k.Line, Path: path, Msg: unknownKey(key, t)}
			}
			if err := checkNode(val, f.Type, join(path, key)); err != nil {
				return err
			}
		}
		return nil
	case reflect.Map:
		if n.Kind != yaml3.MappingNode {
			return fail("%s: want a mapping", describe(n))
		}
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if line, dup := seen[k.Value]; dup {
				return &DocError{Line: k.Line, Path: join(path, k.Value), Msg: fmt.Sprintf("given twice (also on line %d)", line)}
			}
			seen[k.Value] = k.Line
			if err := checkNode(val, t.Elem(), join(path, k.Value)); err != nil {
				return err
			}
		}
		return nil
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 && n.Kind == yaml3.ScalarNode {
			return nil // []byte: base64 text
		}
		if n.Kind != yaml3.SequenceNode {
			return fail("%s: want a list (lines starting with \"- \", or [a, b])", describe(n))
		}
		for i, item := range n.Content {
			if err := checkNode(item, t.Elem(), elemPath(path, i, item)); err != nil {
				return err
			}
		}
		return nil
	case reflect.Interface:
		return nil
	}
	if n.Kind != yaml3.ScalarNode {
		return fail("%s: want a single %s value", describe(n), kindName(t))
	}
	switch t.Kind() {
	case reflect.String:
		return nil // the decoder turns any scalar into text
	case reflect.Bool:
		if n.Tag == "!!bool" || isYAML11Bool(n.Value) && n.Style == 0 {
			return nil
		}
		return fail("%s: want true or false", describe(n))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if n.Tag != "!!int" {
			switch {
			case n.Tag == "!!float" && allDigits(n.Value):
				return fail("%s: out of range for a %d-bit number", describe(n), t.Bits())
			case n.Style&(yaml3.DoubleQuotedStyle|yaml3.SingleQuotedStyle) != 0 && allDigits(n.Value):
				return fail("%s: want a whole number, without quotes", describe(n))
			}
			return fail("%s: want a whole number", describe(n))
		}
		var x int64
		if err := n.Decode(&x); err != nil || reflect.Zero(t).OverflowInt(x) {
			return fail("%s: out of range for a %d-bit number", describe(n), t.Bits())
		}
		return nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		var x uint64
		if n.Tag != "!!int" || strings.HasPrefix(n.Value, "-") {
			return fail("%s: want a whole number, 0 or more", describe(n))
		}
		if err := n.Decode(&x); err != nil || reflect.Zero(t).OverflowUint(x) {
			return fail("%s: out of range for a %d-bit number", describe(n), t.Bits())
		}
		return nil
	case reflect.Float32, reflect.Float64:
		var x float64
		if (n.Tag != "!!int" && n.Tag != "!!float") || n.Decode(&x) != nil || math.IsInf(x, 0) || math.IsNaN(x) {
			return fail("%s: want a number", describe(n))
		}
		return nil
	}
	return nil
}

// describe names a node's value as a user sees it.
func describe(n *yaml3.Node) string {
	switch n.Kind {
	case yaml3.MappingNode:
		return "a mapping"
	case yaml3.SequenceNode:
		return "a list"
	}
	v := n.Value
	if len(v) > 40 {
		v = v[:40] + "…"
	}
	return strconv.Quote(v)
}

func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "text"
	case reflect.Bool:
		return "true/false"
	case reflect.Float32, reflect.Float64:
		return "number"
	}
	return "whole number"
}

// isYAML11Bool: the decoder reads YAML 1.1, where yes/no/on/off are booleans.
func isYAML11Bool(s string) bool {
	switch strings.ToLower(s) {
	case "y", "yes", "n", "no", "on", "off", "true", "false":
		return true
	}
	return false
}

func join(path, key string) string {
	switch {
	case path == "":
		return key
	case strings.HasSuffix(path, ")"):
		return path + ": " + key // after "vms[2] (web01)"
	}
	return path + "." + key
}

// elemPath names item i of the list at path, with the item's name when it
// is a mapping with a name key: vms[2] (web01).
func elemPath(path string, i int, item *yaml3.Node) string {
	p := fmt.Sprintf("%s[%d]", path, i)
	if item.Kind == yaml3.MappingNode {
		for j := 0; j+1 < len(item.Content); j += 2 {
			if item.Content[j].Value == "name" && item.Content[j+1].Kind == yaml3.ScalarNode && item.Content[j+1].Value != "" {
				return p + " (" + item.Content[j+1].Value + ")"
			}
		}
	}
	return p
}

// fieldsOf maps the JSON names of t's fields, embedded structs inlined as
// encoding/json does, to the fields.
func fieldsOf(t reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" && tag == "-" {
			continue
		}
		if f.Anonymous && name == "" {
			et := f.Type
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				for k, v := range fieldsOf(et) {
					if _, ok := out[k]; !ok {
						out[k] = v
					}
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f
	}
	return out
}

func fieldNames(t reflect.Type) []string {
	var names []string
	for k := range fieldsOf(t) {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// unknownKey says that key is not a field of t, suggesting the field it
// most likely means: the same in another letter case, or one or two
// letters off.
func unknownKey(key string, t reflect.Type) string {
	names := fieldNames(t)
	for _, n := range names {
		if strings.EqualFold(n, key) {
			return fmt.Sprintf("unknown key %q: keys are case-sensitive, did you mean %q?", key, n)
		}
	}
	best, bestD := "", 3
	for _, n := range names {
		if d := editDistance(strings.ToLower(key), strings.ToLower(n)); d < bestD {
			best, bestD = n, d
		}
	}
	if best != "" {
		return fmt.Sprintf("unknown key %q: did you mean %q?", key, best)
	}
	return fmt.Sprintf("unknown key %q: want one of %s", key, strings.Join(names, ", "))
}

// editDistance counts the insertions, deletions, substitutions and
// transpositions of adjacent letters that turn a into b.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// allDigits: an optional sign and digits, a whole number too large for the
// YAML parser's integers.
func allDigits(s string) bool {
	s = strings.TrimLeft(s, "+-")
	return s != "" && strings.Trim(s, "0123456789") == ""
}
