package convert

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/podvm-migrate/podvm-migrate/convert/block"
	"github.com/podvm-migrate/podvm-migrate/convert/qcow2"
	"github.com/podvm-migrate/podvm-migrate/convert/raw"
	"github.com/podvm-migrate/podvm-migrate/convert/remote"
	"github.com/podvm-migrate/podvm-migrate/convert/vmdk"
)

// OpenURL opens a disk image served over HTTP(S) with range requests, such
// as a datastore file: format "" detects it. A VMDK's extents and parents
// are read from the same server, next to it. qcow2 backing files are not
// followed.
func OpenURL(ctx context.Context, u *url.URL, format string, o remote.Options) (block.Image, error) {
	open := remote.Opener(ctx, u, o)
	if format == "" {
		f, err := open(u.Path)
		if errors.Is(err, remote.ErrNoRanges) {
			return openURLStream(ctx, u, o)
		}
		if err != nil {
			return nil, err
		}
		head := make([]byte, min(512, f.Len))
		if err := f.ReadFull(head, 0); err != nil {
			return nil, err
		}
		format = detect(head, u.Path)
		if format != FormatVMDK {
			return openRemoteFile(f, format)
		}
	}
	if format == FormatVMDK {
		img, err := vmdk.OpenWith(u.Path, open)
		if errors.Is(err, remote.ErrNoRanges) {
			return openURLStream(ctx, u, o)
		}
		return img, err
	}
	f, err := open(u.Path)
	if err != nil {
		return nil, err
	}
	return openRemoteFile(f, format)
}

// openURLStream reads a streamOptimized VMDK front to back from a server
// that ignores ranges, as an NFC export lease serves it.
func openURLStream(ctx context.Context, u *url.URL, o remote.Options) (block.Image, error) {
	body, err := remote.OpenStream(ctx, u, o)
	if err != nil {
		return nil, err
	}
	s, err := vmdk.OpenStream(remote.Redact(u), body, body)
	if err != nil {
		body.Close()
		return nil, fmt.Errorf("%w (a server without range requests can only serve streamOptimized VMDKs)", err)
	}
	return s, nil
}

func openRemoteFile(f *block.File, format string) (block.Image, error) {
	switch format {
	case FormatRaw:
		return raw.OpenFile(f), nil
	case FormatQCOW2:
		img, err := qcow2.OpenFile(f)
		if err != nil {
			return nil, err
		}
		if img.BackingFile != "" {
			return nil, fmt.Errorf("%s: remote qcow2 images with a backing file are not supported", f.Name)
		}
		return img, nil
	}
	return nil, fmt.Errorf("%s: unknown source format %q: want vmdk, qcow2 or raw", f.Name, format)
}
