package vsphere

import (
	"context"
	"fmt"

	"github.com/podvm-migrate/podvm-migrate/convert"
	"github.com/podvm-migrate/podvm-migrate/convert/block"
	"github.com/podvm-migrate/podvm-migrate/disksource"
)

var _ convert.Opener = (*Conn)(nil)

// Open opens a disk source only vSphere reaches, in datacenter
// o.Datacenter ("" for the only one): a "[datastore] path" read with range
// requests over the datastore's HTTP access, or "vm:NAME/DISK" read
// through an ExportVm lease (the VM must be off). The returned function
// releases the lease; call it after closing the image.
func (c *Conn) Open(ctx context.Context, src disksource.Source, o convert.SourceOptions) (block.Image, func(), error) {
	ro := o.Remote
	ro.Client = c.HTTPClient()
	switch src.Kind {
	case disksource.KindDatastore:
		u, err := c.DatastoreURL(ctx, o.Datacenter, src)
		if err != nil {
			return nil, nil, err
		}
		img, err := convert.OpenURL(ctx, u, o.Format, ro)
		if err != nil {
			return nil, nil, err
		}
		return img, func() {}, nil
	case disksource.KindVM:
		moref, err := c.FindVM(ctx, o.Datacenter, src.VM)
		if err != nil {
			return nil, nil, err
		}
		return c.OpenExport(ctx, moref, ExportedDisk(src.Disk), ro)
	}
	return nil, nil, fmt.Errorf("%s: a %s is not on vSphere", src, src.Kind)
}
