package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"sigs.k8s.io/yaml"

	"github.com/podvm-migrate/podvm-migrate/image"
	"github.com/podvm-migrate/podvm-migrate/podvm"
)

func init() { register(newImageCommand) }

// registryFlags are the containers/image registry settings shared by the
// image and run commands.
type registryFlags struct {
	tlsVerify bool
	authFile  string
	certDir   string
	creds     string
}

func (r *registryFlags) register(f *pflag.FlagSet) {
	f.BoolVar(&r.tlsVerify, "tls-verify", true, "require HTTPS and verify certificates for registries (false: plain HTTP allowed)")
	f.StringVar(&r.authFile, "authfile", os.Getenv("REGISTRY_AUTH_FILE"), "registry credentials file (containers auth.json; $REGISTRY_AUTH_FILE)")
	f.StringVar(&r.certDir, "cert-dir", "", "folder of *.crt, *.cert and *.key files for the registry")
	f.StringVar(&r.creds, "creds", "", "registry credentials USER[:PASSWORD] (else from the auth file)")
}

func (r *registryFlags) options(changed func(string) bool) image.RegistryOptions {
	o := image.RegistryOptions{AuthFile: r.authFile, CertDir: r.certDir}
	if changed("tls-verify") {
		v := r.tlsVerify
		o.TLSVerify = &v
	}
	if r.creds != "" {
		o.Username, o.Password, _ = strings.Cut(r.creds, ":")
	}
	return o
}

func newImageCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Build and inspect pod VM images (OCI images of qcow2 disks and a spec)",
		Long: `A pod VM image is an OCI image whose single layer holds the VM's disks under
/disk/ as qcow2 (mode 0440, owned 107:107: KubeVirt can use it as a
containerDisk as it is), with the pod VM spec as JSON in the image config
labels and manifest annotations (` + image.AnnotationSpec + `) and every
disk's SHA-256 (` + image.AnnotationDisks + `).

References: oci:DIR:TAG (an OCI layout folder) or docker://HOST/REPO:TAG (a
registry; credentials from --authfile/--creds or containers' auth.json).`,
	}
	cmd.AddCommand(newImageBuildCommand(g), newImageInspectCommand(g))
	return cmd
}

func newImageBuildCommand(g *globalOptions) *cobra.Command {
	var (
		specFile, to, compress  string
		kernel, initrd, cmdline string
		reg                     registryFlags
		allow                   allowPaths
	)
	cmd := &cobra.Command{
		Use:   "build DISK... --to oci:DIR:TAG|docker://HOST/REPO:TAG",
		Short: "Pack disks and a spec into a pod VM image",
		Long: `Pack DISK... and a pod VM spec into a pod VM image written to --to. A
standalone qcow2 goes in as it is; raw, VMDK (snapshot deltas included), a
qcow2 with a backing chain and an OVA's disk are converted to qcow2 as
"convert disk" does. Without --spec, a spec is made up: named after the
first disk, SeaBIOS, 1 vCPU, 512 MiB, virtio disks, one virtio NIC. --kernel/--initrd add the guest's kernel under /boot/ so the
runtime can boot it directly (run --fast).

The layer is written once, straight to its destination: into the OCI
layout's blobs/ folder (a disk that needs converting is converted in a
hidden work folder inside the layout, on the same file system, and becomes
the layer by a rename), or streamed to the registry. Missing folders above
an oci: layout are created. --compress none (the
default for oci:) leaves the qcow2 files as they are, so "run" boots them
where they lie in the layer without copying them; gzip (the default for
registries, what KubeVirt's containerDisk pull reads) and zstd compress on
all cores.

` + allowPathLong,
		Example: `  podvm-migrate image build web01.vmdk --spec web01.json --to oci:./images/web01:v1
  podvm-migrate image build disk.qcow2 --to docker://registry.local:5000/web01:v1`,
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if to == "" {
				return usageError{fmt.Errorf("--to is required (oci:DIR:TAG or docker://HOST/REPO:TAG)")}
			}
			paths, err := allow.policy()
			if err != nil {
				return err
			}
			comp, err := image.ParseCompression(compress)
			if err != nil {
				return usageError{fmt.Errorf("--compress: %w", err)}
			}
			o := image.BuildOptions{Disks: args, To: to, Registry: reg.options(cmd.Flags().Changed), Compress: comp,
				Kernel: kernel, Initrd: initrd, Cmdline: cmdline, Paths: paths,
				Log: func(f string, a ...any) { g.log.Debug(fmt.Sprintf(f, a...)) }}
			if specFile != "" {
				s, err := readSpec(specFile)
				if err != nil {
					return err
				}
				o.Spec = s
			}
			info, err := image.Build(cmd.Context(), o)
			if re := (*image.RefError)(nil); errors.As(err, &re) {
				return usageError{err}
			}
			if err != nil {
				return err
			}
			return printPodResult(cmd, g, info)
		},
	}
	f := cmd.Flags()
	f.StringVar(&specFile, "spec", "", "pod VM spec file (JSON or YAML)")
	f.StringVar(&to, "to", "", "where the image goes: oci:DIR:TAG or docker://HOST/REPO:TAG")
	f.StringVar(&kernel, "kernel", "", "also carry this kernel (for direct kernel boot)")
	f.StringVar(&initrd, "initrd", "", "also carry this initramfs")
	f.StringVar(&cmdline, "cmdline", "", "kernel command line for direct kernel boot")
	f.StringVar(&compress, "compress", "", "layer compression: none, gzip or zstd, on all cores (default none for oci:, which the runtime boots in place; gzip for registries, what KubeVirt pulls)")
	reg.register(f)
	allow.register(f)
	return cmd
}

func newImageInspectCommand(g *globalOptions) *cobra.Command {
	var reg registryFlags
	cmd := &cobra.Command{
		Use:   "inspect REF",
		Short: "Show a pod VM image's spec and disks (without fetching the disks)",
		Example: `  podvm-migrate image inspect oci:./images/web01:v1
  podvm-migrate image inspect docker://registry.local:5000/web01:v1 -o json`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := image.ParseRef(args[0]); err != nil {
				if re := (*image.RefError)(nil); errors.As(err, &re) {
					return usageError{err}
				}
				return err
			}
			info, err := image.Inspect(cmd.Context(), args[0], reg.options(cmd.Flags().Changed))
			if err != nil {
				return err
			}
			return printPodResult(cmd, g, info)
		},
	}
	reg.register(cmd.Flags())
	return cmd
}

// readSpec reads a pod VM spec from a JSON or YAML file (unknown fields are
// errors).
func readSpec(path string) (*podvm.Spec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("spec: %w", err)
	}
	var s podvm.Spec
	if err := yaml.UnmarshalStrict(b, &s); err != nil {
		return nil, fmt.Errorf("spec %s: %w", path, err)
	}
	return &s, nil // validated by its user, once disk sizes are filled in
}
