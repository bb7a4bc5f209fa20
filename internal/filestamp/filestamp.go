// Package filestamp identifies a file's state cheaply, the way a build
// tool's index does, so that a digest computed earlier can be trusted
// while the file is unchanged.
package filestamp

import (
	"fmt"
	"os"
	"syscall"
)

// Stamp is a file's device, inode, size and modification and change
// times. A write changes the times (and perhaps the size), another file
// under the name the inode; the change time cannot be set back from user
// space, as the modification time can.
type Stamp struct {
	Dev     uint64 `json:"dev"`
	Ino     uint64 `json:"ino"`
	Size    int64  `json:"size"`
	MtimeNs int64  `json:"mtimeNs"`
	CtimeNs int64  `json:"ctimeNs"`
}

// Of stats path.
func Of(path string) (Stamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return Stamp{}, err
	}
	st, ok := OfInfo(fi)
	if !ok {
		return Stamp{}, fmt.Errorf("%s: the file system gives no inode", path)
	}
	return st, nil
}

// OfInfo is the stamp of a stat result; false when it carries no inode.
func OfInfo(fi os.FileInfo) (Stamp, bool) {
	sys, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return Stamp{}, false
	}
	return Stamp{Dev: uint64(sys.Dev), Ino: sys.Ino, Size: fi.Size(), MtimeNs: fi.ModTime().UnixNano(), CtimeNs: sys.Ctim.Nano()}, true
}
