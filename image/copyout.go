package image

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/containers/image/v5/copy"
	"github.com/containers/image/v5/oci/layout"
	"github.com/containers/image/v5/signature"
	"github.com/containers/image/v5/types"
	digest "github.com/opencontainers/go-digest"
)

// copyOut copies the staged one-image layout at stage to dest (named to)
// with containers/image and returns the manifest digest. An oci: layout
// folder it had to create is removed again if the copy fails, so a failed
// or cancelled build leaves no image behind.
func copyOut(ctx context.Context, stage, to string, dest types.ImageReference, ro RegistryOptions) (string, error) {
	src, err := layout.NewReference(stage, "podvm")
	if err != nil {
		return "", fmt.Errorf("image: staging layout: %w", err)
	}
	created := ""
	if strings.HasPrefix(to, "oci:") {
		// containers/image writes into an existing layout; make sure the folder exists.
		dir := strings.SplitN(strings.TrimPrefix(to, "oci:"), ":", 2)[0]
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			created = dir
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", fmt.Errorf("image: %w", err)
		}
	}
	policy, err := signature.NewPolicyContext(&signature.Policy{Default: []signature.PolicyRequirement{signature.NewPRInsecureAcceptAnything()}})
	if err != nil {
		return "", fmt.Errorf("image: %w", err)
	}
	defer policy.Destroy()
	manifest, err := copy.Image(ctx, policy, dest, src, &copy.Options{DestinationCtx: ro.systemContext()})
	if err != nil {
		if created != "" {
			os.RemoveAll(created)
		}
		if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
			err = fmt.Errorf("%w: %v", cerr, err)
		}
		return "", fmt.Errorf("image: write %s: %w", to, err)
	}
	return digest.FromBytes(manifest).String(), nil
}
