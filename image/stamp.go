package image

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/podvm-migrate/podvm-migrate/internal/atomicfile"
	"github.com/podvm-migrate/podvm-migrate/internal/filestamp"

	digest "github.com/opencontainers/go-digest"
)

// Stamp identifies a file's content cheaply, the way a build tool's
// index does: a write changes its modification time or size, a new file
// its inode. A hard link keeps all four.
type Stamp struct {
	Dev, Ino uint64
	Size     int64
	MtimeNs  int64
}

// StampOf stats path.
func StampOf(path string) (Stamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return Stamp{}, err
	}
	st, ok := stampOfInfo(fi)
	if !ok {
		return Stamp{}, fmt.Errorf("%s: no inode", path)
	}
	return st, nil
}

// stampOfInfo is the stamp of a stat result. It leaves the change time
// out: hard-linking the blob into a runtime's store changes it.
func stampOfInfo(fi os.FileInfo) (Stamp, bool) {
	s, ok := filestamp.OfInfo(fi)
	return Stamp{Dev: s.Dev, Ino: s.Ino, Size: s.Size, MtimeNs: s.MtimeNs}, ok
}

// verifiedFile, in an OCI layout's folder, records the stamp each layer
// blob had when Build wrote it and computed its digests from the bytes
// it wrote. A runtime taking the blob in place may skip hashing its disks
// again while the blob still has that stamp; any write to it since, or
// another file under its name, makes the stamp differ and the disks are
// hashed on first use. OCI tools ignore files they do not know in a layout.
const verifiedFile = "podvm-verified.json"

// readVerified reads a layout's stamps; a missing or unreadable file is
// an empty record (the blobs are then simply hashed again).
func readVerified(dir string) map[string]Stamp {
	out := map[string]Stamp{}
	b, err := os.ReadFile(filepath.Join(dir, verifiedFile))
	if err == nil {
		_ = json.Unmarshal(b, &out)
	}
	return out
}

// recordVerified adds blob's current stamp under its digest, and drops
// stamps of blobs no longer there.
func recordVerified(dir, dg, blob string) error {
	st, err := StampOf(blob)
	if err != nil {
		return err
	}
	rec := readVerified(dir)
	for k := range rec {
		d, err := digest.Parse(k)
		if err == nil {
			_, err = os.Stat(filepath.Join(dir, "blobs", d.Algorithm().String(), d.Encoded()))
		}
		if err != nil {
			delete(rec, k)
		}
	}
	rec[dg] = st
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, verifiedFile), b, 0o644)
}
