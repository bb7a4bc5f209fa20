package remote

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25"
)

// ParseDatastorePath splits "[datastore] folder/disk.vmdk".
func ParseDatastorePath(s string) (ds, path string, err error) {
	var p object.DatastorePath
	if !p.FromString(s) || p.Datastore == "" || p.Path == "" {
		return "", "", fmt.Errorf("datastore path %q: want \"[datastore] folder/disk.vmdk\"", s)
	}
	return p.Datastore, p.Path, nil
}

// DatastoreURL is the HTTPS URL (/folder/…?dcPath=…&dsName=…) of a file on
// a datastore, given as "[datastore] folder/disk.vmdk", in datacenter dc
// (empty: the only one).
func DatastoreURL(ctx context.Context, c *vim25.Client, dc, dsPath string) (*url.URL, error) {
	dsName, p, err := ParseDatastorePath(dsPath)
	if err != nil {
		return nil, err
	}
	finder := find.NewFinder(c, false)
	d, err := finder.DatacenterOrDefault(ctx, dc)
	if err != nil {
		return nil, fmt.Errorf("datacenter %q: %w", dc, err)
	}
	finder.SetDatacenter(d)
	ds, err := finder.Datastore(ctx, dsName)
	if err != nil {
		return nil, fmt.Errorf("datastore %q: %w", dsName, err)
	}
	return ds.NewURL(strings.TrimPrefix(p, "/")), nil
}

// SessionClient is the HTTP client of a vSphere session: its TLS rules
// (CAs, thumbprints, insecure) and its session cookie.
func SessionClient(c *vim25.Client) *http.Client { return &c.Client.Client }
