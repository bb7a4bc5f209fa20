package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/podvm-migrate/podvm-migrate/convert"
	"github.com/podvm-migrate/podvm-migrate/internal/output"
)

func init() { register(newConvertCommand) }

func newConvertCommand(g *globalOptions) *cobra.Command {
	c := &cobra.Command{
		Use:   "convert",
		Short: "Convert VM disks to qcow2 or raw",
	}
	c.AddCommand(newConvertDiskCommand(g), newConvertChecksumCommand(g))
	return c
}

const checksumFlagHelp = `digest of the guest-visible bytes: sha256-tree (SHA-256 tree hash of 1 MiB
leaves, hashed on every core, holes free), sha256 (plain SHA-256 as
sha256sum prints for a raw copy; one core) or none`

func checkChecksumFlag(v string) error {
	if err := convert.CheckChecksum(v); err != nil {
		return usageError{fmt.Errorf("--%w", err)} // --checksum "md5": want …
	}
	return nil
}

type convertDiskOptions struct {
	format       string
	sourceFormat string
	force        bool
	sync         bool
	compress     bool
	verify       bool
	checksum     string
	workers      int
	noProgress   bool
	datacenter   string
	allow        allowPaths
	guest        guestConversionFlags
}

func newConvertDiskCommand(g *globalOptions) *cobra.Command {
	o := &convertDiskOptions{}
	c := &cobra.Command{
		Use: "disk SRC DST",
		Example: `  podvm-migrate convert disk vm/disk.vmdk disk.qcow2
  podvm-migrate convert disk --url https://vc/sdk --ca-cert ca.pem "[datastore1] web01/web01.vmdk" web01.qcow2
  podvm-migrate convert disk "https://esx/folder/web01/web01.vmdk?dcPath=ha-datacenter&dsName=ds1" web01.raw --format raw
  podvm-migrate convert disk vm:web01/disk0 web01.qcow2   # through an ExportVm lease; web01 must be off`,
		Short: "Convert one disk image (VMDK of any subformat, qcow2 or raw) to qcow2 or raw",
		Long: `Convert one disk image to qcow2 or raw without temporary copies.

SRC is a local file, an http(s) URL read with range requests (a datastore's
/folder/ URL is read in the vSphere session of --url/GOVC_URL), or
"[datastore] folder/disk.vmdk" on that vSphere, or "vm:NAME/DISK": a disk of
a powered-off VM read through an ExportVm NFC lease (DISK a device key such as
2000, the disk's file name, or disk0, disk1, …). It is a VMDK (monolithicSparse, streamOptimized, monolithicFlat,
twoGbMaxExtentSparse/Flat, vmfs, multi-extent, snapshot deltas, hosted or ESX
vmfsSparse/seSparse, read through to their base), a qcow2 (with its backing
chain) or a raw image. Unallocated and zero blocks are never read or written;
grains are inflated on all cores.
DST is written under a temporary name and renamed when complete; an
existing DST is kept unless --force is given, and nothing is left on
failure. Progress goes to stderr.

` + allowPathLong,
		Args: usageArgs(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.format != convert.FormatRaw && o.format != convert.FormatQCOW2 {
				return usageError{fmt.Errorf("--format %q: want raw or qcow2", o.format)}
			}
			switch o.sourceFormat {
			case "", convert.FormatVMDK, convert.FormatQCOW2, convert.FormatRaw, convert.FormatOVA:
			default:
				return usageError{fmt.Errorf("--source-format %q: want vmdk, qcow2, raw or ova", o.sourceFormat)}
			}
			if err := checkChecksumFlag(o.checksum); err != nil {
				return err
			}
			if o.verify && o.checksum == convert.SumNone {
				return usageError{fmt.Errorf("--verify needs a --checksum other than %s", convert.SumNone)}
			}
			if o.compress && o.format != convert.FormatQCOW2 {
				return usageError{fmt.Errorf("--compress needs --format qcow2")}
			}
			if err := o.guest.validate(); err != nil {
				return err
			}
			paths, err := o.allow.policy()
			if err != nil {
				return err
			}
			srcs, opener, logout, err := g.diskSources(cmd.Context(), args[:1])
			if err != nil {
				return err
			}
			defer logout()
			p := newDiskProgress(cmd.ErrOrStderr(), "converting "+args[0], o.noProgress)
			r, err := convert.Disk(cmd.Context(), srcs[0], args[1], convert.DiskOptions{
				SourceFormat: o.sourceFormat, Format: o.format, Force: o.force, Sync: o.sync, Compress: o.compress,
				Workers: o.workers, Verify: o.verify, Checksum: o.checksum, Progress: p.update,
				Opener: opener, Datacenter: o.datacenter, Paths: paths,
			})
			p.finish(err == nil)
			if err != nil {
				return err
			}
			gr, err := o.guest.convertGuest(cmd.Context(), args[1], o.format, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			f := g.format
			return output.Print(cmd.OutOrStdout(), f, convertDiskOutput{r, gr})
		},
	}
	f := c.Flags()
	f.StringVar(&o.format, "format", convert.FormatQCOW2, "target format: raw or qcow2")
	f.StringVar(&o.sourceFormat, "source-format", "", "source format: vmdk, qcow2, raw or ova (default: detected)")
	f.BoolVar(&o.force, "force", false, "overwrite DST if it exists")
	f.BoolVar(&o.sync, "sync", false, "fsync DST before renaming it into place")
	f.BoolVar(&o.compress, "compress", false, "deflate qcow2 clusters")
	f.BoolVar(&o.verify, "verify", false, "re-read DST and check that its checksum matches the source's")
	f.StringVar(&o.checksum, "checksum", convert.SumTree, checksumFlagHelp)
	f.IntVar(&o.workers, "workers", 0, "goroutines inflating and encoding (default: all cores)")
	f.BoolVar(&o.noProgress, "no-progress", false, "print no progress on stderr")
	f.StringVar(&o.datacenter, "datacenter", "", "datacenter of a \"[datastore] path\" SRC (default: the only one)")
	o.allow.register(f)
	o.guest.add(f, true)
	return c
}
