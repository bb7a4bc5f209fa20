package main

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/podvm-migrate/podvm-migrate/convert"
	"github.com/podvm-migrate/podvm-migrate/convert/block"
	"github.com/podvm-migrate/podvm-migrate/internal/output"
)

type convertChecksumOptions struct {
	sourceFormat string
	checksum     string
	workers      int
	noProgress   bool
	datacenter   string
	allow        allowPaths
}

// diskChecksum is one row of convert checksum's output.
type diskChecksum struct {
	Disk           string  `json:"disk"`
	Format         string  `json:"format"`
	VirtualBytes   int64   `json:"virtualBytes"`
	AllocatedBytes int64   `json:"allocatedBytes"`
	Checksum       string  `json:"checksum"`
	Seconds        float64 `json:"seconds"`
}

type diskChecksums []diskChecksum

func (diskChecksums) Header() []string {
	return []string{"disk", "format", "virtual", "allocated", "seconds", "checksum"}
}

func (d diskChecksums) Rows() [][]string {
	rows := make([][]string, 0, len(d))
	for _, c := range d {
		rows = append(rows, []string{c.Disk, c.Format, strconv.FormatInt(c.VirtualBytes, 10),
			strconv.FormatInt(c.AllocatedBytes, 10), fmt.Sprintf("%.2f", c.Seconds), c.Checksum})
	}
	return rows
}

func newConvertChecksumCommand(g *globalOptions) *cobra.Command {
	o := &convertChecksumOptions{}
	c := &cobra.Command{
		Use:   "checksum DISK...",
		Short: "Print the digest of the guest-visible bytes of disk images, as convert disk records it",
		Long: `Print the digest of each disk's guest-visible bytes (what a raw copy of the
disk holds), the same digest convert disk and migrate record for a source
and its target, so either can be checked on its own later.

DISK is anything convert disk reads: a VMDK of any subformat, a qcow2, a raw
image, an OVA, a datastore URL, "[datastore] path" or "vm:NAME/DISK".
Unallocated blocks are not read. The default sha256-tree is the SHA-256 tree
hash of 1 MiB leaves (each leaf's SHA-256, then pairs of digests hashed
level by level; as Amazon Glacier defines it). --checksum sha256 gives what
sha256sum prints for a raw copy of the disk, computed on one core.

` + allowPathLong,
		Example: `  podvm-migrate convert checksum web01.vmdk web01.qcow2
  podvm-migrate convert checksum --checksum sha256 -o json disk.raw`,
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkChecksumFlag(o.checksum); err != nil {
				return err
			}
			if o.checksum == convert.SumNone {
				return usageError{fmt.Errorf("--checksum %s computes nothing", convert.SumNone)}
			}
			paths, err := o.allow.policy()
			if err != nil {
				return err
			}
			srcs, opener, logout, err := g.diskSources(cmd.Context(), args)
			if err != nil {
				return err
			}
			defer logout()
			var out diskChecksums
			for i, disk := range args {
				start := time.Now()
				img, done, err := convert.OpenSource(cmd.Context(), srcs[i], convert.SourceOptions{
					Format: o.sourceFormat, Opener: opener, Datacenter: o.datacenter, Paths: paths})
				if err != nil {
					return err
				}
				p := newDiskProgress(cmd.ErrOrStderr(), "hashing "+disk, o.noProgress)
				st, err := convert.ChecksumImage(cmd.Context(), img, convert.CopyOptions{
					Workers: o.workers, Checksum: o.checksum, Progress: p.update})
				p.finish(err == nil)
				format := img.Format()
				img.Close()
				done()
				if err != nil {
					if fe := (*block.FormatError)(nil); errors.As(err, &fe) && fe.File == disk {
						return err // it names the disk already
					}
					return fmt.Errorf("%s: %w", disk, err)
				}
				out = append(out, diskChecksum{Disk: disk, Format: format, VirtualBytes: st.VirtualBytes,
					AllocatedBytes: st.AllocatedBytes, Checksum: st.Checksum, Seconds: time.Since(start).Seconds()})
			}
			f := g.format
			return output.Print(cmd.OutOrStdout(), f, out)
		},
	}
	f := c.Flags()
	f.StringVar(&o.sourceFormat, "source-format", "", "format of every DISK: vmdk, qcow2, raw or ova (default: detected)")
	f.StringVar(&o.checksum, "checksum", convert.SumTree, checksumFlagHelp)
	f.IntVar(&o.workers, "workers", 0, "goroutines reading, inflating and hashing (default: all cores)")
	f.BoolVar(&o.noProgress, "no-progress", false, "print no progress on stderr")
	f.StringVar(&o.datacenter, "datacenter", "", "datacenter of a \"[datastore] path\" DISK (default: the only one)")
	o.allow.register(f)
	return c
}
