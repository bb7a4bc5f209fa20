package debian

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// AptMirror returns the Debian archive URI that apt on this host is
// configured with for suite (e.g. "http://deb.debian.org/debian" for
// bookworm), read from /etc/apt/sources.list and the one-line (.list) and
// deb822 (.sources) files in /etc/apt/sources.list.d. root is "/" on the
// host; tests pass a folder.
func AptMirror(root, suite string) (string, error) {
	files := []string{filepath.Join(root, "etc/apt/sources.list")}
	d := filepath.Join(root, "etc/apt/sources.list.d")
	if ents, err := os.ReadDir(d); err == nil {
		var more []string
		for _, e := range ents {
			if n := e.Name(); strings.HasSuffix(n, ".list") || strings.HasSuffix(n, ".sources") {
				more = append(more, filepath.Join(d, n))
			}
		}
		sort.Strings(more)
		files = append(files, more...)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var entries []aptSource
		if strings.HasSuffix(f, ".sources") {
			entries = parseDeb822Sources(string(b))
		} else {
			entries = parseOneLineSources(string(b))
		}
		for _, s := range entries {
			if s.has(suite) {
				return strings.TrimRight(s.URI, "/"), nil
			}
		}
	}
	return "", fmt.Errorf("apt mirror: no deb source for suite %s in %s", suite, strings.Join(files, ", "))
}

// aptSource is one URI with the suites apt fetches from it.
type aptSource struct {
	URI    string
	Suites []string
}

func (s aptSource) has(suite string) bool {
	for _, x := range s.Suites {
		if x == suite {
			return true
		}
	}
	return false
}

// parseOneLineSources reads "deb [options] URI suite component…" lines.
func parseOneLineSources(text string) []aptSource {
	var out []aptSource
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) < 3 || f[0] != "deb" {
			continue
		}
		f = f[1:]
		if strings.HasPrefix(f[0], "[") {
			for len(f) > 0 && !strings.HasSuffix(f[0], "]") {
				f = f[1:]
			}
			if len(f) > 0 {
				f = f[1:]
			}
		}
		if len(f) >= 2 {
			out = append(out, aptSource{URI: f[0], Suites: []string{f[1]}})
		}
	}
	return out
}

// parseDeb822Sources reads deb822 stanzas (Types, URIs, Suites, …).
func parseDeb822Sources(text string) []aptSource {
	var out []aptSource
	for _, stanza := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n\n") {
		fields := map[string]string{}
		for _, line := range strings.Split(stanza, "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "#") {
				continue
			}
			k, v, ok := strings.Cut(line, ":")
			if ok && !strings.HasPrefix(line, " ") {
				fields[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
			}
		}
		if !contains(strings.Fields(fields["types"]), "deb") || strings.EqualFold(fields["enabled"], "no") {
			continue
		}
		for _, u := range strings.Fields(fields["uris"]) {
			out = append(out, aptSource{URI: u, Suites: strings.Fields(fields["suites"])})
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
