package vsphere

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/vmware/govmomi/find"

	"github.com/podvm-migrate/podvm-migrate/disksource"
)

// HTTPClient is the HTTP client of the session: its TLS rules (CAs,
// thumbprints, insecure) and its session cookie, which datastore /folder/
// URLs and NFC lease URLs need.
func (c *Conn) HTTPClient() *http.Client { return &c.Client.Client.Client }

// DatastoreURL is the HTTPS URL (/folder/…?dcPath=…&dsName=…) of the file
// of a "[datastore] folder/disk.vmdk" source in datacenter dc ("" for the
// only one), to read with HTTPClient.
func (c *Conn) DatastoreURL(ctx context.Context, dc string, src disksource.Source) (*url.URL, error) {
	if src.Kind != disksource.KindDatastore {
		return nil, fmt.Errorf("%s: a %s, not a datastore path", src, src.Kind)
	}
	finder := find.NewFinder(c.Client, false)
	d, err := finder.DatacenterOrDefault(ctx, dc)
	if err != nil {
		return nil, fmt.Errorf("datacenter %q: %w", dc, err)
	}
	finder.SetDatacenter(d)
	ds, err := finder.Datastore(ctx, src.Datastore)
	if err != nil {
		return nil, fmt.Errorf("datastore %q: %w", src.Datastore, err)
	}
	return ds.NewURL(src.Path), nil
}
