package image

import (
	"crypto/sha256"
	"encoding"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"time"

	"github.com/podvm-migrate/podvm-migrate/internal/atomicfile"
	"github.com/podvm-migrate/podvm-migrate/internal/filestamp"
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
	Name  string          `json:"name"`
	Stamp filestamp.Stamp `json:"stamp"`       // of the disk file when saved
	State []byte          `json:"sha256State"` // after the tar headers and the disk's bytes
}

// layerHashFile is where Save puts disk's record.
func layerHashFile(disk string) string { return disk + ".layerhash" }

// Save records the digest's state beside the finished disk file. When the
// converter never called Tee (a stream source, say), did not pass the whole
// file, or the record cannot be written, it leaves no record (Build then
// hashes the file) and says why: the disk itself is fine either way.
func (l *LayerHash) Save(disk string) error {
	err := l.save(disk)
	if err != nil {
		DropLayerHash(disk)
	}
	return err
}

func (l *LayerHash) save(disk string) error {
	if !l.started {
		DropLayerHash(disk)
		return nil
	}
	if l.err != nil {
		return fmt.Errorf("layer hash of %s: %w", disk, l.err)
	}
	st, err := filestamp.Of(disk)
	if err != nil {
		return fmt.Errorf("layer hash: %w", err)
	}
	if st.Size != l.size || l.n != l.size {
		return fmt.Errorf("layer hash: %s has %d bytes, %d of %d were hashed", disk, st.Size, l.n, l.size)
	}
	state, err := l.h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return fmt.Errorf("layer hash: %w", err)
	}
	b, err := json.Marshal(layerHashRecord{Name: l.name, Stamp: st, State: state})
	if err != nil {
		return fmt.Errorf("layer hash: %w", err)
	}
	if err := atomicfile.WriteFile(layerHashFile(disk), b, 0o644); err != nil {
		return fmt.Errorf("layer hash: %w", err)
	}
	return nil
}

// DropLayerHash removes disk's record: call it after changing the disk in
// place (guest conversion). A stale record is never used anyway (its stamp
// no longer matches); this just tidies.
func DropLayerHash(disk string) {
	os.Remove(layerHashFile(disk))
}

// savedLayerHash is the digest Save recorded for disk as the layer entry
// name, hashed up to the end of the disk's bytes, and the stamp the file
// had, when the file is still exactly the one saved (inode, size,
// modification and change times); nil otherwise.
func savedLayerHash(disk, name string) (hash.Hash, Stamp) {
	b, err := os.ReadFile(layerHashFile(disk))
	if err != nil {
		return nil, Stamp{}
	}
	var rec layerHashRecord
	if json.Unmarshal(b, &rec) != nil || rec.Name != name {
		return nil, Stamp{}
	}
	st, err := filestamp.Of(disk)
	if err != nil || st != rec.Stamp {
		return nil, Stamp{}
	}
	h := sha256.New()
	if h.(encoding.BinaryUnmarshaler).UnmarshalBinary(rec.State) != nil {
		return nil, Stamp{}
	}
	return h, Stamp{Dev: st.Dev, Ino: st.Ino, Size: st.Size, MtimeNs: st.MtimeNs}
}
