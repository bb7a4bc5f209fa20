// Package output prints command results as a table, JSON or YAML, the same
// way for every command (like govc's shared output flag).
package output

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"golang.org/x/term"
	"sigs.k8s.io/yaml"
)

// Format is an output format chosen with -o.
type Format string

// The formats every command accepts.
const (
	Auto  Format = ""
	Table Format = "table"
	JSON  Format = "json"
	YAML  Format = "yaml"
)

// ParseFormat checks a -o value.
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(s)); f {
	case Auto, Table, JSON, YAML:
		return f, nil
	}
	return "", fmt.Errorf("output format %q: want json, yaml or table", s)
}

// Resolve turns Auto into Table on a terminal and JSON otherwise.
func (f Format) Resolve(w io.Writer) Format {
	if f != Auto {
		return f
	}
	if IsTerminal(w) {
		return Table
	}
	return JSON
}

// Tabular is a result that can show itself as a table.
type Tabular interface {
	Header() []string
	Rows() [][]string
}

// Print writes v in format f. A value that is not Tabular is printed as
// YAML when a table is asked for.
func Print(w io.Writer, f Format, v any) error {
	switch f.Resolve(w) {
	case JSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case YAML:
		b, err := yaml.Marshal(v)
		if err != nil {
			return fmt.Errorf("yaml: %w", err)
		}
		_, err = w.Write(b)
		return err
	default:
		t, ok := v.(Tabular)
		if !ok {
			return Print(w, YAML, v)
		}
		return WriteTable(w, t.Header(), t.Rows())
	}
}

// WriteTable writes aligned columns with an upper-case header row.
func WriteTable(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	up := make([]string, len(header))
	for i, h := range header {
		up[i] = strings.ToUpper(h)
	}
	fmt.Fprintln(tw, strings.Join(up, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// IsTerminal reports whether w is a character device such as a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd())) // a terminal, not just any character device such as /dev/null
}

// Bytes renders a byte count in binary units, e.g. "64.0 MiB".
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
