package convert

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/podvm-migrate/podvm-migrate/convert/block"
	"github.com/podvm-migrate/podvm-migrate/convert/remote"
	"github.com/podvm-migrate/podvm-migrate/vsphere"
)

// SourceOptions say how OpenSource reaches a source.
type SourceOptions struct {
	Format     string          // vmdk, qcow2 or raw; "" detects it
	VSphere    *vsphere.Config // the session for "[datastore] path" and vSphere URLs; nil for none
	Datacenter string          // of a "[datastore] path"; "" for the only one
	Remote     remote.Options  // retries; the client comes from the session when there is one
}

// IsRemote reports whether src names a disk on a server rather than a local file.
func IsRemote(src string) bool {
	return strings.HasPrefix(src, "[") || strings.HasPrefix(src, "https://") || strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "vm:")
}

// OpenSource opens a disk image named by a local path, an http(s) URL (a
// datastore's /folder/… URL, read in the vSphere session if one is
// configured), "[datastore] folder/disk.vmdk" on the configured vSphere, or
// "vm:NAME/DISK": a disk of a powered-off VM read through an ExportVm lease.
// The returned function ends the session; call it after closing the image.
func OpenSource(ctx context.Context, src string, o SourceOptions) (block.Image, func(), error) {
	if !IsRemote(src) {
		img, err := Open(src, o.Format)
		return img, func() {}, err
	}
	done := func() {}
	ro := o.Remote
	var conn *vsphere.Conn
	if o.VSphere != nil && o.VSphere.URL != "" {
		c, err := vsphere.Connect(ctx, *o.VSphere)
		if err != nil {
			return nil, nil, err
		}
		conn = c
		done = func() { c.Logout(context.WithoutCancel(ctx)) }
		ro.Client = remote.SessionClient(c.Client)
	}
	if strings.HasPrefix(src, "vm:") {
		if conn == nil {
			return nil, nil, fmt.Errorf("%s: a VM source needs a vSphere connection: set --url or GOVC_URL", src)
		}
		name, disk, err := parseVMSource(src)
		if err != nil {
			done()
			return nil, nil, err
		}
		ref, err := findVM(ctx, conn.Client, o.Datacenter, name)
		if err != nil {
			done()
			return nil, nil, err
		}
		img, complete, err := OpenExport(ctx, conn.Client, ref, disk, ro)
		if err != nil {
			done()
			return nil, nil, err
		}
		return img, func() { complete(); done() }, nil
	}
	var u *url.URL
	var err error
	if strings.HasPrefix(src, "[") {
		if conn == nil {
			return nil, nil, fmt.Errorf("%s: a datastore path needs a vSphere connection: set --url or GOVC_URL", src)
		}
		u, err = remote.DatastoreURL(ctx, conn.Client, o.Datacenter, src)
	} else {
		u, err = url.Parse(src)
	}
	if err != nil {
		done()
		return nil, nil, err
	}
	img, err := OpenURL(ctx, u, o.Format, ro)
	if err != nil {
		done()
		return nil, nil, err
	}
	return img, done, nil
}
