package main

import (
	"context"

	"github.com/podvm-migrate/podvm-migrate/convert"
	"github.com/podvm-migrate/podvm-migrate/disksource"
	"github.com/podvm-migrate/podvm-migrate/vsphere"
)

// diskSources parses the disk source arguments of convert disk and convert
// checksum (a bad one is a usage error) and, when one needs it and
// --url/GOVC_URL is set, logs in to vSphere: for a datastore path, a VM's
// disk, or a URL (a datastore's /folder/ URL is read in the session). The
// opener is nil without a session; the returned function logs out.
func (g *globalOptions) diskSources(ctx context.Context, args []string) ([]disksource.Source, convert.Opener, func(), error) {
	srcs := make([]disksource.Source, len(args))
	remote := false
	for i, a := range args {
		s, err := disksource.Parse(a)
		if err != nil {
			return nil, nil, nil, usageError{err}
		}
		srcs[i], remote = s, remote || s.Remote()
	}
	if !remote || g.vsphere.URL == "" {
		return srcs, nil, func() {}, nil
	}
	conn, err := vsphere.Connect(ctx, g.vsphere)
	if err != nil {
		return nil, nil, nil, err
	}
	return srcs, conn, func() { conn.Logout(context.WithoutCancel(ctx)) }, nil
}
