package podvm

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"time"

	digest "github.com/opencontainers/go-digest"
)

// layerDisk is one qcow2 file going into the layer.
type layerDisk struct {
	name string // spec disk name
	path string // qcow2 on the local file system
}

// layerResult is what writing the layer measured.
type layerResult struct {
	digest digest.Digest // of the gzip blob
	diffID digest.Digest // of the uncompressed tar
	size   int64
	disks  []ImageDisk
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

// writeLayer writes a gzip tar holding disk/ and each disk as
// disk/NAME.qcow2 (0440, 107:107) to w, hashing the blob, the tar and every
// disk on the way.
func writeLayer(w io.Writer, disks []layerDisk, mtime time.Time) (*layerResult, error) {
	blobHash := sha256.New()
	cw := &countingWriter{w: io.MultiWriter(w, blobHash)}
	gz, err := gzip.NewWriterLevel(cw, gzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	tarHash := sha256.New()
	tw := tar.NewWriter(io.MultiWriter(gz, tarHash))
	hdr := &tar.Header{Typeflag: tar.TypeDir, Name: DiskDir + "/", Mode: 0o555, Uid: DiskUID, Gid: DiskGID, ModTime: mtime, Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	res := &layerResult{}
	for _, d := range disks {
		id, err := addDisk(tw, d, mtime)
		if err != nil {
			return nil, err
		}
		res.disks = append(res.disks, *id)
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	if err := gz.Close(); err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	res.digest = digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(blobHash.Sum(nil)))
	res.diffID = digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(tarHash.Sum(nil)))
	res.size = cw.n
	return res, nil
}

func addDisk(tw *tar.Writer, d layerDisk, mtime time.Time) (*ImageDisk, error) {
	h, err := readDiskHeader(d.path)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(d.path)
	if err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	name := path.Join(DiskDir, d.name+".qcow2")
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: st.Size(), Mode: DiskMode, Uid: DiskUID, Gid: DiskGID, ModTime: mtime, Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, fmt.Errorf("layer: %s: %w", d.path, err)
	}
	sum := sha256.New()
	n, err := io.Copy(io.MultiWriter(tw, sum), f)
	if err != nil {
		return nil, fmt.Errorf("layer: copy %s: %w", d.path, err)
	}
	if n != st.Size() {
		return nil, fmt.Errorf("layer: %s changed size while being read", d.path)
	}
	return &ImageDisk{Name: d.name, File: name, Format: FormatQCOW2, SizeBytes: n,
		VirtualSize: h.VirtualSize, SHA256: hex.EncodeToString(sum.Sum(nil))}, nil
}
