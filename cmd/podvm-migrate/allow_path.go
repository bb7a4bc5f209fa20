package main

import (
	"fmt"
	"os"

	"github.com/spf13/pflag"

	"github.com/podvm-migrate/podvm-migrate/convert"
)

// allowPathHelp is --allow-path's help, the same on every command that
// reads local disks.
const allowPathHelp = "let VMDK descriptors name files in `DIR` and below too (repeatable; default: only their own folder, or OVA)"

// allowPathLong is the paragraph on --allow-path in the long help of
// those commands.
const allowPathLong = `The files a VMDK descriptor names (its extents, its parentFileNameHint) must
be in the descriptor's own folder, symlinks resolved: an absolute, ../ or
symlinked name outside it is refused (naming the descriptor, the line and
the path) unless --allow-path DIR allows that folder. An ESXi path such as
/vmfs/volumes/ds1/web01/base.vmdk is read as base.vmdk next to the
descriptor when that file is there. Inside an OVA, a descriptor names the
OVA's members; over HTTP, files next to it on the same server. Device nodes,
FIFOs and sockets are never opened from a descriptor.`

// allowPaths is the --allow-path flag.
type allowPaths []string

func (a *allowPaths) register(f *pflag.FlagSet) {
	f.StringArrayVar((*[]string)(a), "allow-path", nil, allowPathHelp)
}

// policy is the PathPolicy the flag asks for; each DIR must be a folder
// (a usage error otherwise).
func (a allowPaths) policy() (convert.PathPolicy, error) {
	for _, d := range a {
		st, err := os.Stat(d)
		if err != nil {
			return convert.PathPolicy{}, usageError{fmt.Errorf("--allow-path %s: %w", d, err)}
		}
		if !st.IsDir() {
			return convert.PathPolicy{}, usageError{fmt.Errorf("--allow-path %s: not a folder", d)}
		}
	}
	return convert.PathPolicy{AllowDirs: a}, nil
}
