package image

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/containers/image/v5/pkg/blobinfocache/none"
	"github.com/containers/image/v5/types"
	digest "github.com/opencontainers/go-digest"
	imgspecv1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// transportDest writes an image through containers/image's destination for
// its transport; to a registry the layer is streamed as it is written
// (one chunked upload, its digest computed on the way), never staged.
type transportDest struct {
	to   string
	dest types.ImageDestination
}

var _ destination = (*transportDest)(nil)

func openTransport(ctx context.Context, to string, ref types.ImageReference, ro RegistryOptions) (*transportDest, error) {
	dest, err := ref.NewImageDestination(ctx, ro.systemContext())
	if err != nil {
		return nil, fmt.Errorf("image: write %s: %w", to, err)
	}
	return &transportDest{to: to, dest: dest}, nil
}

// putLayer pipes what write produces into one blob upload.
func (t *transportDest) putLayer(ctx context.Context, write func(io.Writer) (*layerResult, error)) (*layerResult, error) {
	pr, pw := io.Pipe()
	type result struct {
		lr  *layerResult
		err error
	}
	done := make(chan result, 1)
	go func() {
		lr, err := write(pw)
		pw.CloseWithError(err) // nil: the upload sees EOF
		done <- result{lr, err}
	}()
	bi, err := t.dest.PutBlob(ctx, pr, types.BlobInfo{Size: -1}, none.NoCache, false)
	pr.CloseWithError(errors.New("upload ended")) // unblocks write when the upload failed
	r := <-done
	if r.err != nil {
		return nil, r.err
	}
	if err != nil {
		return nil, t.wrap(ctx, err)
	}
	if bi.Digest != r.lr.digest {
		return nil, fmt.Errorf("image: write %s: the destination stored the layer as %s, it was written as %s", t.to, bi.Digest, r.lr.digest)
	}
	return r.lr, nil
}

func (t *transportDest) putBlob(ctx context.Context, b []byte, mediaType string) (imgspecv1.Descriptor, error) {
	d := digest.FromBytes(b)
	if _, err := t.dest.PutBlob(ctx, bytes.NewReader(b), types.BlobInfo{Digest: d, Size: int64(len(b))}, none.NoCache, true); err != nil {
		return imgspecv1.Descriptor{}, t.wrap(ctx, err)
	}
	return imgspecv1.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(b))}, nil
}

func (t *transportDest) commit(ctx context.Context, manifest []byte) error {
	if err := t.dest.PutManifest(ctx, manifest, nil); err != nil {
		return t.wrap(ctx, err)
	}
	if err := t.dest.Commit(ctx, nil); err != nil {
		return t.wrap(ctx, err)
	}
	return nil
}

func (t *transportDest) close() { t.dest.Close() }

// wrap names the destination and keeps ctx's error findable with
// errors.Is when the transport reports it in its own words.
func (t *transportDest) wrap(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		err = fmt.Errorf("%w: %v", cerr, err)
	}
	return fmt.Errorf("image: write %s: %w", t.to, err)
}
