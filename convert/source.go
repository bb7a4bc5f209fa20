package convert

import (
	"context"
	"fmt"
	"net/http"

	"github.com/podvm-migrate/podvm-migrate/convert/block"
	"github.com/podvm-migrate/podvm-migrate/convert/remote"
	"github.com/podvm-migrate/podvm-migrate/disksource"
)

// An Opener opens the disk sources convert cannot reach by itself, a
// "[datastore] path" and a "vm:NAME/DISK", and gives the HTTP client that
// reads http(s) URLs in its session. The vsphere package's Conn is one; the
// caller owns its session.
type Opener interface {
	// Open opens a source of kind disksource.KindDatastore or KindVM; the
	// returned function (never nil) releases what reading it held, after
	// the image is closed.
	Open(ctx context.Context, src disksource.Source, o SourceOptions) (block.Image, func(), error)
	// HTTPClient is the client with the session's TLS rules and cookie.
	HTTPClient() *http.Client
}

// SourceOptions say how OpenSource reaches a source.
type SourceOptions struct {
	Format string // vmdk, qcow2 or raw; "" detects it
	// Opener opens "[datastore] path" and "vm:NAME/DISK" sources, and its
	// HTTP client reads URLs (a datastore's /folder/ URL needs the
	// session); nil for none.
	Opener     Opener
	Datacenter string         // of a "[datastore] path" or a VM; "" for the only one
	Remote     remote.Options // retries; the client comes from Opener when there is one
	// Paths widens which local files a VMDK descriptor may name (besides
	// its own folder, or its OVA): --allow-path. A descriptor read over
	// HTTP may only name files next to it on the same server, always.
	Paths PathPolicy
}

// OpenSource opens a disk image named by a local path, an http(s) URL (a
// datastore's /folder/… URL, read in the session of o.Opener if there is
// one), or, through o.Opener, "[datastore] folder/disk.vmdk" or
// "vm:NAME/DISK": a disk of a powered-off VM read through an export lease.
// The returned function releases what o.Opener held; call it after closing
// the image.
func OpenSource(ctx context.Context, src disksource.Source, o SourceOptions) (block.Image, func(), error) {
	switch src.Kind {
	case disksource.KindFile:
		img, err := Open(src.File, o.Format, o.Paths)
		return img, func() {}, err
	case disksource.KindURL:
		ro := o.Remote
		if o.Opener != nil {
			ro.Client = o.Opener.HTTPClient()
		}
		img, err := OpenURL(ctx, src.URL, o.Format, ro)
		return img, func() {}, err
	case disksource.KindDatastore, disksource.KindVM:
		if o.Opener == nil {
			what := "a datastore path"
			if src.Kind == disksource.KindVM {
				what = "a VM source"
			}
			return nil, nil, fmt.Errorf("%s: %s needs a vSphere connection: set --url or GOVC_URL", src, what)
		}
		return o.Opener.Open(ctx, src, o)
	}
	return nil, nil, fmt.Errorf("disk source %q: unknown kind %v", src, src.Kind)
}
