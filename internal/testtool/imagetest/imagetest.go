// Package imagetest holds what tests of the packages above image need to
// read a migration's result: the pod VM images in a run directory. It is
// apart from testtool because image's own tests import testtool.
package imagetest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/podvm-migrate/podvm-migrate/convert"
	"github.com/podvm-migrate/podvm-migrate/image"
)

// MigratedDiskSum is the guest-data checksum (convert's default, the
// SHA-256 tree hash) of disk0 as the VM's pod VM image in the run
// directory holds it: the runtime target takes the transferred qcow2 into
// the image layer in place, so the image is where the migrated disk lives.
// The image is the OCI layout runDir/images/VM, tag latest, as
// migrate.RuntimeTarget.ImageRef names it; it is unpacked into a temporary
// folder that is removed again.
func MigratedDiskSum(ctx context.Context, runDir, vm string) (string, error) {
	tmp, err := os.MkdirTemp("", "podvm-unpack-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, vm)
	ref := "oci:" + filepath.Join(runDir, "images", vm) + ":latest"
	if _, err := image.Unpack(ctx, ref, out, image.RegistryOptions{}); err != nil {
		return "", fmt.Errorf("migrated disk of %s: %w", vm, err)
	}
	sum, err := convert.Checksum(ctx, filepath.Join(out, "disk0.qcow2"), convert.FormatQCOW2, "", 0)
	if err != nil {
		return "", fmt.Errorf("migrated disk of %s: %w", vm, err)
	}
	return sum, nil
}
