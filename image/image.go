// Package image builds pod VM images and reads them back: OCI images whose
// one layer holds the disks as qcow2 under /disk/ (a KubeVirt containerDisk
// as it is) and whose config labels and manifest annotations carry the pod
// VM spec and every disk's digest. Images go to OCI layout directories or
// registries through containers/image.
package image

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/podvm-migrate/podvm-migrate/podvm"

	"github.com/containers/image/v5/transports/alltransports"
	"github.com/containers/image/v5/types"
)

// Keys under which a pod VM image carries its spec and disk list, both as
// image config labels and as manifest annotations.
const (
	AnnotationSpec  = "io.podvm-migrate.spec"  // the podvm.Spec as JSON
	AnnotationDisks = "io.podvm-migrate.disks" // []Disk as JSON
	AnnotationBoot  = "io.podvm-migrate.boot"  // Boot as JSON, when the image carries a kernel
	// DiskDir is where the disks live in the image, as a KubeVirt
	// containerDisk expects them.
	DiskDir = "disk"
	// BootDir holds an optional kernel and initramfs for direct kernel boot.
	BootDir = "boot"
	// DiskUID and DiskGID own the disks in the layer (KubeVirt's qemu user).
	DiskUID, DiskGID = 107, 107
	// DiskMode is the disks' mode in the layer.
	DiskMode = 0o440
)

// Disk is one disk in a pod VM image.
type Disk struct {
	Name        string `json:"name"`        // the spec's disk name, e.g. disk0
	File        string `json:"file"`        // path in the layer, e.g. disk/disk0.qcow2
	Format      string `json:"format"`      // qcow2
	SizeBytes   int64  `json:"sizeBytes"`   // file size
	VirtualSize int64  `json:"virtualSize"` // guest-visible size
	// SHA256 is the file's digest as stored in the layer. It is empty for
	// a disk whose layer digest was computed as the converter wrote it
	// (LayerHash): the layer's digest is then the disk's check.
	SHA256 string `json:"sha256,omitempty"`
}

// Boot is an optional kernel and initramfs carried next to the disks,
// so a runtime can boot the guest directly (faster) or smoke-test KVM.
type Boot struct {
	Kernel       string `json:"kernel"`           // path in the layer, e.g. boot/vmlinuz
	KernelSHA256 string `json:"kernelSHA256"`     // of the file
	Initrd       string `json:"initrd,omitempty"` // e.g. boot/initrd.img
	InitrdSHA256 string `json:"initrdSHA256,omitempty"`
	Cmdline      string `json:"cmdline,omitempty"` // kernel command line
}

// Info is what a pod VM image holds, as read back from a reference.
type Info struct {
	Ref            string     `json:"ref"`
	ManifestDigest string     `json:"manifestDigest"`
	MediaType      string     `json:"mediaType"`
	Spec           podvm.Spec `json:"spec"`
	Disks          []Disk     `json:"disks"`
	Boot           *Boot      `json:"boot,omitempty"`
	LayerDigest    string     `json:"layerDigest"`
	LayerSize      int64      `json:"layerSize"`
	// LayerDiffID is the digest of the uncompressed layer tar (the config's
	// rootfs diff_ids): the check of a disk without a digest of its own.
	LayerDiffID string `json:"layerDiffID,omitempty"`
	// LayerMediaType tells whether the layer is compressed (absent in
	// records written before it was kept).
	LayerMediaType string `json:"layerMediaType,omitempty"`
}

// Header and Rows print an Info as a table, one row per disk.
func (i *Info) Header() []string {
	return []string{"ref", "name", "disk", "bus", "virtual size", "sha256"}
}

// Rows implements output.Tabular.
func (i *Info) Rows() [][]string {
	var rows [][]string
	for _, d := range i.Disks {
		bus := ""
		for _, sd := range i.Spec.Disks {
			if sd.Name == d.Name {
				bus = sd.Bus
			}
		}
		sum := d.SHA256
		if sum == "" {
			sum = "(layer " + i.LayerDigest + ")"
		}
		rows = append(rows, []string{i.Ref, i.Spec.Name, d.File, bus, fmt.Sprint(d.VirtualSize), sum})
	}
	return rows
}

// RegistryOptions are the containers/image settings for registries: TLS
// verification, certificates and credentials. Zero values follow
// containers/image's defaults (TLS verified, auth from the usual auth.json).
type RegistryOptions struct {
	// TLSVerify false allows plain HTTP and unverified TLS; only when asked.
	TLSVerify *bool
	CertDir   string // a folder of *.crt, *.cert, *.key for the registry
	AuthFile  string // an auth.json; default containers/image's search path
	Username  string // credentials given directly (override AuthFile)
	Password  string
}

// systemContext turns the options into a containers/image SystemContext.
func (o RegistryOptions) systemContext() *types.SystemContext {
	sys := &types.SystemContext{DockerCertPath: o.CertDir, AuthFilePath: o.AuthFile}
	if o.TLSVerify != nil {
		sys.DockerInsecureSkipTLSVerify = types.NewOptionalBool(!*o.TLSVerify)
		sys.OCIInsecureSkipTLSVerify = !*o.TLSVerify
	}
	if o.Username != "" {
		sys.DockerAuthConfig = &types.DockerAuthConfig{Username: o.Username, Password: o.Password}
	}
	return sys
}

// ParseRef parses oci:DIR:TAG or docker://HOST/REPO:TAG (any
// containers/image transport).
// An oci: layout folder's parent must exist (BuildOptions.To need not).
// A reference that does not parse is a *RefError.
func ParseRef(ref string) (types.ImageReference, error) {
	if !strings.Contains(ref, ":") {
		return nil, &RefError{Ref: ref, Err: errors.New("want oci:DIR:TAG or docker://HOST/REPO:TAG")}
	}
	if dir := layoutDir(ref); dir != "" {
		// containers/image says only "lstat …" for a missing folder: that
		// is no layout, not a bad reference.
		if _, err := os.Stat(filepath.Dir(filepath.Clean(dir))); errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("image %s: no layout there: %w", ref, err)
		}
	}
	r, err := alltransports.ParseImageName(ref)
	if err != nil {
		return nil, &RefError{Ref: ref, Err: err}
	}
	return r, nil
}

// RefError is an image reference that does not parse: a usage error.
type RefError struct {
	Ref string
	Err error
}

func (e *RefError) Error() string { return fmt.Sprintf("image reference %q: %v", e.Ref, e.Err) }

// Unwrap returns the parser's error.
func (e *RefError) Unwrap() error { return e.Err }

// layoutDir is the folder of an oci:DIR[:TAG] reference, "" for other
// transports.
func layoutDir(ref string) string {
	if !strings.HasPrefix(ref, "oci:") {
		return ""
	}
	dir, _, _ := strings.Cut(strings.TrimPrefix(ref, "oci:"), ":")
	return dir
}

// parseDestination parses where Build writes. For oci:DIR:TAG it first
// creates DIR's missing parent folders (containers/image wants them), and
// returns the topmost folder it created ("" for none) so a failed build
// can take them away again with removeCreated.
func parseDestination(to string) (ref types.ImageReference, created string, err error) {
	if dir := layoutDir(to); dir != "" {
		parent := filepath.Dir(filepath.Clean(dir))
		for p := parent; ; p = filepath.Dir(p) {
			if _, err := os.Lstat(p); err == nil || !errors.Is(err, os.ErrNotExist) {
				break
			}
			created = p
			if filepath.Dir(p) == p {
				break
			}
		}
		if created != "" {
			if err := os.MkdirAll(parent, 0o755); err != nil {
				removeCreated(parent, created)
				return nil, "", fmt.Errorf("image: layout %s: create its parent folder: %w", dir, err)
			}
		}
	}
	ref, err = ParseRef(to)
	if err != nil {
		if created != "" {
			removeCreated(filepath.Dir(filepath.Clean(layoutDir(to))), created)
		}
		return nil, "", err
	}
	return ref, created, nil
}

// removeCreated removes the empty folders from dir up to and including
// top, which parseDestination created; a folder something else has put
// files in since stays.
func removeCreated(dir, top string) {
	for p := dir; ; p = filepath.Dir(p) {
		if os.Remove(p) != nil || p == top || filepath.Dir(p) == p {
			return
		}
	}
}

// IsRef reports whether s names an image (transport:…) rather than a
// file.
func IsRef(s string) bool {
	for _, p := range []string{"oci:", "docker://", "oci-archive:", "dir:", "docker-archive:"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
