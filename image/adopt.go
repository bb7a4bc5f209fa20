package image

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	digest "github.com/opencontainers/go-digest"
)

// adoptAlign is where an adopted disk's bytes start in its layer: the file
// system block FALLOC_FL_INSERT_RANGE works in, so they stay block-aligned
// for a runtime that boots them in place.
const adoptAlign = 4096

// errNoAdopt says a disk file cannot become the layer (another file
// system, no FALLOC_FL_INSERT_RANGE, more than one link): nothing was
// changed and the layer is written by copying instead.
var errNoAdopt = errors.New("the disk file cannot become the layer")

// adoption is a disk file that became a layer blob, so a build that fails
// later can give the file back.
type adoption struct {
	blob, src string
	size      int64       // the disk file's size
	mode      os.FileMode // and its permissions
}

// layerPrefix is the tar of a layer up to the first byte of its first
// disk: the disk/ folder and the disk's header, padded by a PAX comment
// record to exactly adoptAlign bytes.
func layerPrefix(name string, size int64, mtime time.Time) ([]byte, error) {
	for pad := 2400; pad < 2600; pad++ {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		dir := &tar.Header{Typeflag: tar.TypeDir, Name: DiskDir + "/", Mode: 0o555, Uid: DiskUID, Gid: DiskGID, ModTime: mtime, Format: tar.FormatPAX}
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: DiskMode, Uid: DiskUID, Gid: DiskGID, ModTime: mtime, Format: tar.FormatPAX,
			PAXRecords: map[string]string{"comment": strings.Repeat(" ", pad)}}
		if err := tw.WriteHeader(dir); err != nil {
			return nil, err
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if buf.Len() == adoptAlign {
			return buf.Bytes(), nil
		}
	}
	return nil, fmt.Errorf("layer: no tar header of %d bytes for %s", adoptAlign, name)
}

// adoptLayer writes the layer by making disks[first]'s own file the blob:
// the file is renamed into blobs/, the tar headers before it are inserted
// in place (FALLOC_FL_INSERT_RANGE moves no data), the other disks and the
// boot files are appended as writeLayer would, and the digests are computed
// in one read of the file. The disk's bytes are never copied. It returns
// errNoAdopt, having changed nothing, when the file cannot be taken so;
// after a later failure the file is given back as it was.
func (d *layoutDest) adoptLayer(ctx context.Context, disks []layerDisk, first int, boot *layerBoot, mtime time.Time) (*layerResult, error) {
	src := disks[first].path
	st, err := os.Lstat(src)
	if err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); !ok || !st.Mode().IsRegular() || sys.Nlink != 1 {
		return nil, errNoAdopt // another name would see the layer's bytes
	}
	name := path.Join(DiskDir, disks[first].name+".qcow2")
	prefix, err := layerPrefix(name, st.Size(), mtime)
	if err != nil {
		return nil, err
	}
	// The converter may have hashed the file as it wrote it (LayerHash):
	// then its bytes need not be read again.
	var saved hash.Hash
	var savedStamp Stamp
	if mtime.Equal(layerModTime()) {
		saved, savedStamp = savedLayerHash(src, disks[first].name)
	}
	DropLayerHash(src) // the file is about to move or change
	tmpf, err := os.CreateTemp(d.blobs(), ".layer-*.partial")
	if err != nil {
		return nil, fmt.Errorf("image: layout %s: %w", d.dir, err)
	}
	tmp := tmpf.Name()
	tmpf.Close()
	if err := os.Rename(src, tmp); err != nil {
		os.Remove(tmp)
		return nil, errNoAdopt
	}
	a := adoption{blob: tmp, src: src, size: st.Size(), mode: st.Mode().Perm()}
	f, err := os.OpenFile(tmp, os.O_RDWR, 0)
	if err != nil {
		os.Rename(tmp, src)
		return nil, fmt.Errorf("layer: %w", err)
	}
	if saved != nil {
		// The file opened must be the one the record was checked against
		// (the rename changed only its change time).
		if st, err := f.Stat(); err != nil || !sameFile(st, savedStamp) {
			saved = nil
		}
	}
	blobHash, diskHash := saved, hash.Hash(nil)
	if blobHash == nil {
		// Hash first, from the page cache, while the transfer's dirty
		// pages start on their way to disk: inserting the range writes
		// every one of them out and drops them from the cache (ext4), so
		// it comes last and finds them mostly written.
		_ = unix.SyncFileRange(int(f.Fd()), 0, 0, unix.SYNC_FILE_RANGE_WRITE)
		blobHash, diskHash = sha256.New(), sha256.New()
		blobHash.Write(prefix)
		// One read: the blob hash here, the disk's own on another core.
		n, err := copyHashed(ctx, blobHash, io.NewSectionReader(f, 0, st.Size()), diskHash)
		if err == nil && n != st.Size() {
			err = fmt.Errorf("%s changed size while being read", src)
		}
		if err != nil {
			f.Close()
			os.Rename(tmp, src)
			return nil, fmt.Errorf("layer: hash %s: %w", src, err)
		}
	}
	if err := unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_INSERT_RANGE, 0, adoptAlign); err != nil {
		f.Close()
		os.Rename(tmp, src)
		return nil, errNoAdopt
	}
	lr, err := finishAdopted(ctx, f, prefix, st.Size(), blobHash, diskHash, disks, first, boot, mtime)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("layer: %w", cerr)
	}
	if err == nil {
		err = os.Chmod(tmp, 0o444)
	}
	if err != nil {
		a.giveBack()
		return nil, err
	}
	placed, err := d.place(tmp, lr.digest)
	if err != nil {
		a.giveBack()
		return nil, err
	}
	if !placed {
		a.giveBack() // the layout had this layer already
		return lr, nil
	}
	a.blob = d.blobPath(lr.digest)
	d.adopted = append(d.adopted, a)
	return lr, nil
}

// finishAdopted writes the tar around an adopted disk whose bytes follow
// the room made at the start of f; blobHash has taken the prefix and the
// disk, diskHash the disk. A nil diskHash (the converter hashed the layer
// as it wrote the disk, see LayerHash) leaves the disk's SHA256 empty: the
// layer digest covers its bytes.
func finishAdopted(ctx context.Context, f *os.File, prefix []byte, size int64, blobHash, diskHash hash.Hash, disks []layerDisk, first int, boot *layerBoot, mtime time.Time) (*layerResult, error) {
	if _, err := f.WriteAt(prefix, 0); err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	res := &layerResult{mediaType: CompressNone.mediaType(), disks: make([]Disk, len(disks))}
	res.disks[first] = Disk{Name: disks[first].name, File: path.Join(DiskDir, disks[first].name+".qcow2"), Format: FormatQCOW2,
		SizeBytes: size, VirtualSize: disks[first].virtualSize}
	if diskHash != nil {
		res.disks[first].SHA256 = hex.EncodeToString(diskHash.Sum(nil))
	}
	end := int64(adoptAlign) + size
	if _, err := f.Seek(end, io.SeekStart); err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	cw := &countingWriter{w: io.MultiWriter(f, blobHash), n: end}
	if pad := (512 - size%512) % 512; pad > 0 {
		if _, err := cw.Write(make([]byte, pad)); err != nil {
			return nil, fmt.Errorf("layer: %w", err)
		}
	}
	tw := tar.NewWriter(cw)
	for i, dk := range disks {
		if i == first {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		id, err := addDisk(ctx, tw, dk, mtime)
		if err != nil {
			return nil, err
		}
		res.disks[i] = *id
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
	res.digest = digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(blobHash.Sum(nil)))
	res.diffID = res.digest
	res.size = cw.n
	return res, nil
}

// giveBack turns an adopted blob back into the disk file it was: the tar
// headers are cut from its start (FALLOC_FL_COLLAPSE_RANGE), the tail
// truncated, the file renamed to its old name. It is best effort: a
// caller that finds its file missing makes it again.
func (a adoption) giveBack() {
	f, err := os.OpenFile(a.blob, os.O_RDWR, 0)
	if err != nil {
		return
	}
	err = unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_COLLAPSE_RANGE, 0, adoptAlign)
	if err == nil {
		err = f.Truncate(a.size)
	}
	f.Close()
	if err != nil {
		os.Remove(a.blob)
		return
	}
	os.Chmod(a.blob, a.mode)
	if os.Rename(a.blob, a.src) != nil {
		os.Remove(a.blob)
	}
}

// largestAdoptable is the index of the biggest disk file that may become
// the layer, or -1.
func largestAdoptable(disks []layerDisk, adoptable []bool) int {
	best, bestSize := -1, int64(-1)
	for i, d := range disks {
		if !adoptable[i] {
			continue
		}
		if st, err := os.Stat(d.path); err == nil && st.Size() > bestSize {
			best, bestSize = i, st.Size()
		}
	}
	return best
}

// sameFile reports whether fi has stamp st's inode, size and modification time.
func sameFile(fi os.FileInfo, st Stamp) bool {
	got, ok := stampOfInfo(fi)
	return ok && got == st
}
