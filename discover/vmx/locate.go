package vmx

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/podvm-migrate/podvm-migrate/disksource"
)

// Options tune how .vmx files are read.
type Options struct {
	// DatastoreDirs maps a datastore name or VMFS volume UUID to a local
	// folder holding a copy of it (--datastore-dir): an ESXi path
	// /vmfs/volumes/DS/vm/disk.vmdk is then read from DIR/vm/disk.vmdk.
	DatastoreDirs map[string]string
	// AllowPaths are folders (with everything below them) whose files a
	// descriptor may name besides its own folder's, as migrate's
	// --allow-path: a disk naming others is marked refused.
	AllowPaths []string
}

// location is where a file named in a .vmx or a descriptor is.
type location struct {
	file      string // Disk.File: a local path, "[ds] path" when no copy is mapped, empty when unknown
	datastore string // the datastore of an ESXi or "[ds] path" name
	source    string // the name as written, when file differs from it
	local     string // the local file to read; empty when there is none
	note      string // how it was found, or why it was not read (a warning)
}

// windowsAbs matches C:\… and C:/… and \\server\share paths.
var windowsAbs = regexp.MustCompile(`^([A-Za-z]:[\\/]|\\\\)`)

// locate resolves name, written in a file in folder dir. ESXi paths
// (/vmfs/volumes/DS/…) and "[DS] path" are read as datastore + path and
// only opened through a --datastore-dir copy; a host-absolute path outside
// dir is never opened: a file of the same name in dir stands in for it
// when there is one. Relative names are read from dir.
func (o Options) locate(dir, name string) location {
	if s, ok, err := disksource.ESXiPath(name); ok {
		if err != nil {
			return location{source: name, note: err.Error() + ": not read"}
		}
		return o.onDatastore(s, name)
	}
	if strings.HasPrefix(name, "[") {
		if s, err := disksource.Parse(name); err == nil && s.Kind == disksource.KindDatastore {
			return o.onDatastore(s, name)
		}
	}
	if filepath.IsAbs(name) || windowsAbs.MatchString(name) {
		if rel, err := filepath.Rel(dir, filepath.Clean(name)); err == nil && filepath.IsAbs(name) && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return location{file: name, local: name}
		}
		base := name[strings.LastIndexAny(name, `/\`)+1:]
		if base != "" {
			near := filepath.Join(dir, base)
			if st, err := os.Stat(near); err == nil && st.Mode().IsRegular() {
				return location{file: near, local: near, source: name,
					note: fmt.Sprintf("host path %q not opened: read %s, the file of that name next to it", name, near)}
			}
		}
		return location{source: name,
			note: fmt.Sprintf("host path %q is outside the VM's folder and not opened, and %s has no file named %q: capacity unknown", name, dir, base)}
	}
	rel := filepath.FromSlash(strings.ReplaceAll(name, `\`, "/"))
	p := filepath.Join(dir, rel)
	return location{file: p, local: p}
}

// onDatastore places a datastore path: in its --datastore-dir copy when
// one is mapped, as "[ds] path" otherwise.
func (o Options) onDatastore(s disksource.Source, written string) location {
	loc := location{file: s.String(), datastore: s.Datastore, source: written}
	dir, ok := o.DatastoreDirs[s.Datastore]
	if !ok {
		loc.note = fmt.Sprintf("%q is on datastore %s, not read on this machine (--datastore-dir %s=DIR reads a local copy): capacity unknown",
			written, s.Datastore, s.Datastore)
		return loc
	}
	loc.local = filepath.Join(dir, filepath.FromSlash(s.Path))
	loc.file = loc.local
	return loc
}
