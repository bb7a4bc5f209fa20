package image

import (
	"context"
	"io"

	"github.com/containers/image/v5/types"
	imgspecv1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// destination takes an image straight from Build: every blob written once,
// where it stays, then the manifest under the destination's tag.
type destination interface {
	// putLayer stores the layer that write produces as it is produced and
	// returns what write measured (its digest among them).
	putLayer(ctx context.Context, write func(io.Writer) (*layerResult, error)) (*layerResult, error)
	// putBlob stores a small blob (the config).
	putBlob(ctx context.Context, b []byte, mediaType string) (imgspecv1.Descriptor, error)
	// commit stores the manifest and tags it: the image appears only now.
	commit(ctx context.Context, manifest []byte) error
	// close releases the destination; before commit it also removes what
	// was written.
	close()
}

// openDestination opens where ref (named to) points: an oci: layout folder
// is written directly, anything else through containers/image's
// destination for its transport (a registry push is streamed).
func openDestination(ctx context.Context, to string, ref types.ImageReference, ro RegistryOptions) (destination, error) {
	if ref.Transport().Name() == "oci" {
		return openLayout(to)
	}
	return openTransport(ctx, to, ref, ro)
}
