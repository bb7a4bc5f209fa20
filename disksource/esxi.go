package disksource

import (
	"fmt"
	"path"
	"strings"
)

// esxiVolumes is where an ESXi host mounts its datastores.
const esxiVolumes = "/vmfs/volumes/"

// ESXiPath reads a path as an ESXi host writes it into .vmx files and
// descriptors, /vmfs/volumes/DATASTORE/folder/disk.vmdk (DATASTORE a name
// or a VMFS volume UUID), as the datastore path "[DATASTORE]
// folder/disk.vmdk". ok is false when p is not under /vmfs/volumes/; err
// is set when it is but names no datastore or file, or steps out with "..".
// The path is never opened: it names a file on another machine.
func ESXiPath(p string) (s Source, ok bool, err error) {
	rest, found := strings.CutPrefix(p, esxiVolumes)
	if !found {
		return Source{}, false, nil
	}
	ds, file, _ := strings.Cut(strings.TrimLeft(rest, "/"), "/")
	file = strings.TrimLeft(file, "/")
	if ds == "" || file == "" {
		return Source{}, true, fmt.Errorf("ESXi path %q: want %sDATASTORE/folder/disk.vmdk", p, esxiVolumes)
	}
	for _, part := range strings.Split(file, "/") {
		if part == ".." {
			return Source{}, true, fmt.Errorf("ESXi path %q: \"..\" refused", p)
		}
	}
	return Source{Kind: KindDatastore, Datastore: ds, Path: path.Clean(file)}, true, nil
}
