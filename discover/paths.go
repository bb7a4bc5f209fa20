package discover

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// ExpandPaths turns files, globs and directories into a sorted list of
// files. Directories are searched recursively for names ending in one of
// exts (case-insensitive, e.g. ".vmx"); files named explicitly are taken
// whatever their extension. A pattern that matches nothing is an error.
func ExpandPaths(patterns []string, exts ...string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	add := func(p string) {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	hasExt := func(name string) bool {
		for _, e := range exts {
			if strings.EqualFold(filepath.Ext(name), e) {
				return true
			}
		}
		return false
	}
	for _, pat := range patterns {
		matches, err := filepath.Glob(pat)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", pat, err)
		}
		if len(matches) == 0 {
			if _, err := os.Stat(pat); err != nil {
				return nil, fmt.Errorf("%s: no such file, directory or match", pat)
			}
			matches = []string{pat}
		}
		for _, m := range matches {
			st, err := os.Stat(m)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", m, err)
			}
			if !st.IsDir() {
				add(m)
				continue
			}
			err = filepath.WalkDir(m, func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if !d.IsDir() && hasExt(p) {
					add(p)
				}
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("%s: %w", m, err)
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// ParseDatastoreDirs reads --datastore-dir values, DATASTORE=DIR: the
// folder DIR holds a copy of the datastore (its top-level folders), for
// offline inventory and conversion. DATASTORE is a name or a VMFS volume
// UUID, as ESXi paths (/vmfs/volumes/DATASTORE/...) write it. DIR is made
// absolute and must be a directory.
func ParseDatastoreDirs(values []string) (map[string]string, error) {
	out := map[string]string{}
	for _, v := range values {
		ds, dir, ok := strings.Cut(v, "=")
		ds = strings.TrimSpace(ds)
		if !ok || ds == "" || dir == "" {
			return nil, fmt.Errorf("datastore dir %q: want DATASTORE=DIR", v)
		}
		abs, err := filepath.Abs(dir)
		if err != nil {
			return nil, fmt.Errorf("datastore dir %q: %w", v, err)
		}
		st, err := os.Stat(abs)
		if err != nil {
			return nil, fmt.Errorf("datastore dir %q: %w", v, err)
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("datastore dir %q: %s is not a directory", v, abs)
		}
		if prev, dup := out[ds]; dup && prev != abs {
			return nil, fmt.Errorf("datastore dir %q: %s is already mapped to %s", v, ds, prev)
		}
		out[ds] = abs
	}
	return out, nil
}
