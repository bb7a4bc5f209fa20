package image

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"time"

	digest "github.com/opencontainers/go-digest"
)

// layerDisk is one qcow2 file going into the layer.
type layerDisk struct {
	name        string // spec disk name
	path        string // qcow2 on the local file system
	virtualSize int64  // guest-visible size, as convert read it
}

// layerBoot is an optional kernel and initramfs going into the layer.
type layerBoot struct {
	kernel, initrd, cmdline string // local files and the command line
}

// layerResult is what writing the layer measured.
type layerResult struct {
	digest    digest.Digest // of the blob as written
	diffID    digest.Digest // of the uncompressed tar
	mediaType string        // the OCI layer media type
	size      int64
	disks     []Disk
	boot      *Boot
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// writeLayer writes a tar holding disk/ and each disk as disk/NAME.qcow2
// (0440, 107:107), and boot/ when a kernel is given, to w, compressed as
// comp asks, hashing the blob, the tar and every file on the way. It stops
// with ctx's error between files and within a file's copy.
func writeLayer(ctx context.Context, w io.Writer, comp Compression, disks []layerDisk, boot *layerBoot, mtime time.Time) (*layerResult, error) {
	blobHash := sha256.New()
	cw := &countingWriter{w: io.MultiWriter(w, blobHash)}
	zw, err := comp.compressor(cw)
	if err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	defer zw.Close() // a no-op once closed; frees the encoders on failure
	tarHash := blobHash
	tarOut := io.Writer(zw)
	if comp != CompressNone && comp != "" {
		// The diffID is the digest of the tar, the blob's only without compression.
		tarHash = sha256.New()
		tarOut = io.MultiWriter(zw, tarHash)
	}
	tw := tar.NewWriter(tarOut)
	hdr := &tar.Header{Typeflag: tar.TypeDir, Name: DiskDir + "/", Mode: 0o555, Uid: DiskUID, Gid: DiskGID, ModTime: mtime, Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	res := &layerResult{mediaType: comp.mediaType()}
	for _, d := range disks {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		id, err := addDisk(ctx, tw, d, mtime)
		if err != nil {
			return nil, err
		}
		res.disks = append(res.disks, *id)
	}
	if boot != nil {
		b, err := addBoot(ctx, tw, boot, mtime)
		if err != nil {
			return nil, err
		}
		res.boot = b
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	res.digest = digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(blobHash.Sum(nil)))
	res.diffID = digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(tarHash.Sum(nil)))
	res.size = cw.n
	return res, nil
}

// addDisk adds a qcow2 file as disk/NAME.qcow2.
func addDisk(ctx context.Context, tw *tar.Writer, d layerDisk, mtime time.Time) (*Disk, error) {
	name := path.Join(DiskDir, d.name+".qcow2")
	n, sum, err := addFile(ctx, tw, d.path, name, mtime)
	if err != nil {
		return nil, err
	}
	return &Disk{Name: d.name, File: name, Format: FormatQCOW2, SizeBytes: n,
		VirtualSize: d.virtualSize, SHA256: sum}, nil
}

// addBoot adds boot/ with the kernel and the optional initramfs.
func addBoot(ctx context.Context, tw *tar.Writer, b *layerBoot, mtime time.Time) (*Boot, error) {
	hdr := &tar.Header{Typeflag: tar.TypeDir, Name: BootDir + "/", Mode: 0o555, Uid: DiskUID, Gid: DiskGID, ModTime: mtime, Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	ib := &Boot{Kernel: path.Join(BootDir, "vmlinuz"), Cmdline: b.cmdline}
	var err error
	if _, ib.KernelSHA256, err = addFile(ctx, tw, b.kernel, ib.Kernel, mtime); err != nil {
		return nil, err
	}
	if b.initrd != "" {
		ib.Initrd = path.Join(BootDir, "initrd.img")
		if _, ib.InitrdSHA256, err = addFile(ctx, tw, b.initrd, ib.Initrd, mtime); err != nil {
			return nil, err
		}
	}
	return ib, nil
}

// addFile copies a local file into the tar as name (0440, 107:107) and
// returns its size and SHA-256. The copy stops with ctx's error.
func addFile(ctx context.Context, tw *tar.Writer, src, name string, mtime time.Time) (int64, string, error) {
	f, err := os.Open(src)
	if err != nil {
		return 0, "", fmt.Errorf("layer: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, "", fmt.Errorf("layer: %w", err)
	}
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: st.Size(), Mode: DiskMode, Uid: DiskUID, Gid: DiskGID, ModTime: mtime, Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return 0, "", fmt.Errorf("layer: %s: %w", src, err)
	}
	sum := sha256.New()
	n, err := copyHashed(ctx, tw, f, sum)
	if err != nil {
		return 0, "", fmt.Errorf("layer: copy %s: %w", src, err)
	}
	if n != st.Size() {
		return 0, "", fmt.Errorf("layer: %s changed size while being read", src)
	}
	return n, hex.EncodeToString(sum.Sum(nil)), nil
}

// copyChunk is how much copyHashed reads at a time.
const copyChunk = 1 << 20

// copyHashed copies src to dst in 1 MiB chunks and hashes every chunk into
// h on another goroutine while dst (the tar, its blob hash and its file)
// takes it, so the two SHA-256s of an uncompressed layer run on two cores.
// It stops with ctx's error before every chunk.
func copyHashed(ctx context.Context, dst io.Writer, src io.Reader, h hash.Hash) (int64, error) {
	buf := make([]byte, copyChunk)
	done := make(chan struct{})
	var total int64
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n, rerr := io.ReadFull(src, buf)
		if n > 0 {
			go func(p []byte) { h.Write(p); done <- struct{}{} }(buf[:n])
			_, werr := dst.Write(buf[:n])
			<-done
			if werr != nil {
				return total, werr
			}
			total += int64(n)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			return total, nil
		}
		if rerr != nil {
			return total, rerr
		}
	}
}
