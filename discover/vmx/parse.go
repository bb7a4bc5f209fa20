// Package vmx discovers VMs from VMware .vmx files and the .vmdk
// descriptors (and .vmsd snapshot lists) next to them.
package vmx

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Dict holds the keys of a .vmx-style file, lower-cased; a key given
// twice keeps its last value, as VMware does.
type Dict map[string]string

// Get returns the value of key (any letter case).
func (d Dict) Get(key string) string { return d[strings.ToLower(key)] }

// Has reports whether key is set.
func (d Dict) Has(key string) bool { _, ok := d[strings.ToLower(key)]; return ok }

// Bool reads a VMware boolean (TRUE/FALSE, yes/no, 1/0); def when unset
// or unreadable.
func (d Dict) Bool(key string, def bool) bool {
	switch strings.ToLower(strings.TrimSpace(d.Get(key))) {
	case "true", "yes", "1", "on":
		return true
	case "false", "no", "0", "off":
		return false
	}
	return def
}

// Int reads an integer; def when unset or unreadable.
func (d Dict) Int(key string, def int64) int64 {
	n, err := strconv.ParseInt(strings.TrimSpace(d.Get(key)), 0, 64)
	if err != nil {
		return def
	}
	return n
}

// maxLineWarnings bounds the warnings one file gives for bad lines.
const maxLineWarnings = 8

// Parse reads the "key = value" lines of a .vmx, .vmsd or .vmdk
// descriptor. It accepts keys in any case, quoted and unquoted values,
// "|XX" hex escapes, comments, blank lines, CRLF, and the .encoding key
// (decoding the file from that character set, see decode). It never
// fails: a line it cannot read, an unknown character set, are warnings
// naming the file (name) and the line, and the rest is read.
func Parse(name string, data []byte) (Dict, []string) {
	d, _, warns := ParseLines(name, data)
	return d, warns
}

// Lines maps each key of a Dict (lower-cased) to the 1-based line that
// gave its value, so a warning about a value can name where it is.
type Lines map[string]int

// ParseLines is Parse that also returns the line of every key.
func ParseLines(name string, data []byte) (Dict, Lines, []string) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	text, warns := decode(sniffEncoding(data), data)
	for i := range warns {
		warns[i] = name + ": " + warns[i]
	}
	d, lines := Dict{}, Lines{}
	bad := 0
	for i, line := range strings.Split(text, "\n") {
		k, v, ok, err := parseLine(strings.TrimRight(line, "\r"))
		if err != nil {
			if bad++; bad <= maxLineWarnings {
				warns = append(warns, fmt.Sprintf("%s:%d: %v: line skipped", name, i+1, err))
			}
			continue
		}
		if ok {
			d[strings.ToLower(k)] = v
			lines[strings.ToLower(k)] = i + 1
		}
	}
	if bad > maxLineWarnings {
		warns = append(warns, fmt.Sprintf("%s: %d more unreadable lines skipped", name, bad-maxLineWarnings))
	}
	return d, lines, warns
}

// parseLine splits one line; ok is false for blank lines and comments.
func parseLine(line string) (key, value string, ok bool, err error) {
	s := strings.TrimSpace(line)
	if s == "" || s[0] == '#' {
		return "", "", false, nil
	}
	eq := strings.IndexByte(s, '=')
	if eq < 0 {
		return "", "", false, fmt.Errorf("%q: want key = value", trunc(s))
	}
	key = strings.TrimSpace(s[:eq])
	if key == "" || strings.ContainsAny(key, " \t\"") {
		return "", "", false, fmt.Errorf("%q: bad key", trunc(s))
	}
	rest := strings.TrimSpace(s[eq+1:])
	if strings.HasPrefix(rest, `"`) {
		end := strings.IndexByte(rest[1:], '"')
		if end < 0 {
			return "", "", false, fmt.Errorf("%q: unterminated quoted value", trunc(s))
		}
		value = rest[1 : end+1]
		after := strings.TrimSpace(rest[end+2:])
		if after != "" && after[0] != '#' {
			return "", "", false, fmt.Errorf("%q: text after the quoted value", trunc(s))
		}
	} else {
		if i := strings.Index(rest, " #"); i >= 0 {
			rest = rest[:i]
		}
		value = strings.TrimSpace(rest)
	}
	return key, unescape(value), true, nil
}

// unescape decodes VMware's "|XX" hex escapes (|22 is a double quote).
func unescape(s string) string {
	if !strings.Contains(s, "|") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '|' && i+2 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(n))
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return validUTF8(b.String())
}

// validUTF8 keeps escaped bytes that do not form UTF-8 as the Latin-1
// characters they would be, so every value is text.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			r = rune(s[i])
		}
		b.WriteRune(r)
		i += n
	}
	return b.String()
}

func trunc(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

// sniffEncoding finds the .encoding key in the raw bytes (its line is ASCII
// in every encoding VMware writes).
func sniffEncoding(data []byte) string {
	for _, line := range bytes.Split(data, []byte("\n")) {
		k, v, ok, err := parseLine(strings.TrimRight(string(line), "\r"))
		if err == nil && ok && strings.EqualFold(k, ".encoding") {
			return v
		}
	}
	return ""
}
