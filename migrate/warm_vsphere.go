package migrate

import (
	"context"
	"fmt"

	"github.com/podvm-migrate/podvm-migrate/convert"
	"github.com/podvm-migrate/podvm-migrate/convert/block"
	"github.com/podvm-migrate/podvm-migrate/disksource"
	"github.com/podvm-migrate/podvm-migrate/vsphere"
)

// VSphereWarm is the WarmSource of a vSphere connection: its snapshot, CBT
// and power calls, and frozen disk files read over datastore HTTP with
// range requests (vsphere.Conn.Open), parents included.
type VSphereWarm struct {
	*vsphere.Conn
}

var _ WarmSource = VSphereWarm{}

// OpenDisk opens the "[datastore] path" file of datacenter dc.
func (v VSphereWarm) OpenDisk(ctx context.Context, dc, file string) (block.Image, func(), error) {
	src, err := disksource.Parse(file)
	if err != nil {
		return nil, nil, err
	}
	if src.Kind != disksource.KindDatastore {
		return nil, nil, fmt.Errorf("%s: not a datastore path", file)
	}
	return v.Open(ctx, src, convert.SourceOptions{Datacenter: dc})
}
