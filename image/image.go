// Package image builds pod VM images and reads them back: OCI images whose
// one layer holds the disks as qcow2 under /disk/ (a KubeVirt containerDisk
// as it is) and whose config labels and manifest annotations carry the pod
// VM spec and every disk's digest. Images go to OCI layout directories or
// registries through containers/image.
package image

import (
	"fmt"
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
func ParseRef(ref string) (types.ImageReference, error) {
	if !strings.Contains(ref, ":") {
		return nil, fmt.Errorf("image reference %q: want oci:DIR:TAG or docker://HOST/REPO:TAG", ref)
	}
	r, err := alltransports.ParseImageName(ref)
	if err != nil {
		return nil, fmt.Errorf("image reference %q: %w", ref, err)
	}
	return r, nil
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
