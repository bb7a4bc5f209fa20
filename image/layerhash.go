package image

import (
	"crypto/sha256"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"time"

	"github.com/podvm-migrate/podvm-migrate/internal/atomicfile"
)

// layerModTime is the modification time of every entry of a layer Build
// writes, so that equal disks make equal layers.
func layerModTime() time.Time { return time.Unix(0, 0).UTC() }

// LayerHash is the digest of the layer a disk file becomes when a later
// Build adopts it (BuildOptions.Adopt), started while the file is still
// being written: its Tee goes to the converter (convert.DiskOptions.Tee),
// which passes it the file's bytes in order as it writes them, and Save,
// once the file is complete, records the digest's state beside the file.
// Build then takes the layer's digest from that record instead of reading
// the disk again, provided the file is still exactly the one saved (same
// inode, size and modification time); otherwise it hashes the file as
// before. The record holds no secret: the state of a SHA-256 of the
// disk's bytes.
type LayerHash struct {
	name    string // the disk's name in the image, e.g. disk0
	h       hash.Hash
	size, n int64
	started bool
	err     error
}

// NewLayerHash starts the layer digest of the image disk called name.
func NewLayerHash(name string) *LayerHash {
	return &LayerHash{name: name, h: sha256.New()}
}

// Tee is the converter's hook: size is the disk file's final size. It
// hashes the tar headers that will go before the disk, then everything
// written to the writer it returns.
func (l *LayerHash) Tee(size int64) io.Writer {
	prefix, err := layerPrefix(path.Join(DiskDir, l.name+".qcow2"), size, layerModTime())
	if err != nil {
		l.err = err
		return io.Discard
	}
	l.h.Reset()
	l.h.Write(prefix)
	l.size, l.n, l.started = size, 0, true
	return l
}

// Write hashes the disk file's next bytes.
func (l *LayerHash) Write(p []byte) (int, error) {
	l.n += int64(len(p))
	return l.h.Write(p)
}

// layerHashRecord is the file Save writes beside the disk.
type layerHashRecord struct {
	Name  string `json:"name"`
	Stamp Stamp  `json:"stamp"`
	State []byte `json:"sha256State"` // after the tar headers and the disk's bytes
}

// layerHashFile is where Save puts disk's record.
func layerHashFile(disk string) string { return disk + ".layerhash" }

// Save records the digest's state beside the finished disk file, or, when
// the converter never called Tee (a stream source, say) or did not pass
// the whole file, removes any earlier record so Build hashes the file.
func (l *LayerHash) Save(disk string) error {
	rec := layerHashFile(disk)
	if !l.started || l.err != nil || l.n != l.size {
		if err := os.Remove(rec); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return l.err
	}
	st, err := StampOf(disk)
	if err != nil {
		return err
	}
	if st.Size != l.size {
		os.Remove(rec)
		return fmt.Errorf("layer hash: %s has %d bytes, %d were hashed", disk, st.Size, l.size)
	}
	state, err := l.h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return err
	}
	b, err := json.Marshal(layerHashRecord{Name: l.name, Stamp: st, State: state})
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(rec, b, 0o644)
}

// DropLayerHash removes disk's record: call it after changing the disk in
// place (guest conversion). A stale record is never used anyway (its stamp
// no longer matches); this just tidies.
func DropLayerHash(disk string) {
	os.Remove(layerHashFile(disk))
}

// savedLayerHash is the digest Save recorded for disk as the layer entry
// name, hashed up to the end of the disk's bytes, when the file is still
// the one st describes; nil otherwise.
func savedLayerHash(disk, name string, st Stamp) hash.Hash {
	b, err := os.ReadFile(layerHashFile(disk))
	if err != nil {
		return nil
	}
	var rec layerHashRecord
	if json.Unmarshal(b, &rec) != nil || rec.Name != name || rec.Stamp != st {
		return nil
	}
	h := sha256.New()
	if h.(encoding.BinaryUnmarshaler).UnmarshalBinary(rec.State) != nil {
		return nil
	}
	return h
}
