package testguest

import (
	"fmt"
	"io"
	"sort"
)

// cpioEntry is one member of a newc ("070701") cpio archive, the format the
// Linux kernel unpacks as an initramfs.
type cpioEntry struct {
	Name  string // path without a leading slash
	Mode  uint32 // type and permission bits, as in stat(2)
	Data  []byte // file contents or symlink target
	Major uint32 // device major number, for character devices
	Minor uint32 // device minor number
}

const (
	modeDir     = 0o040000
	modeFile    = 0o100000
	modeSymlink = 0o120000
	modeCharDev = 0o020000
)

// writeCPIO writes entries as a newc archive, parents before children, and
// the trailer. Deterministic: the same entries give the same bytes.
func writeCPIO(w io.Writer, entries []cpioEntry) error {
	sorted := append([]cpioEntry(nil), entries...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	sorted = append(sorted, cpioEntry{Name: "TRAILER!!!"})
	for i, e := range sorted {
		nlink := 1
		if e.Mode&0o170000 == modeDir {
			nlink = 2
		}
		hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
			i+1, e.Mode, 0, 0, nlink, 0, len(e.Data), 0, 0, e.Major, e.Minor, len(e.Name)+1, 0)
		if _, err := io.WriteString(w, hdr+e.Name+"\x00"); err != nil {
			return fmt.Errorf("cpio: write header of %s: %w", e.Name, err)
		}
		if err := pad4(w, len(hdr)+len(e.Name)+1); err != nil {
			return err
		}
		if _, err := w.Write(e.Data); err != nil {
			return fmt.Errorf("cpio: write %s: %w", e.Name, err)
		}
		if err := pad4(w, len(e.Data)); err != nil {
			return err
		}
	}
	return nil
}

func pad4(w io.Writer, n int) error {
	if r := n % 4; r != 0 {
		if _, err := w.Write(make([]byte, 4-r)); err != nil {
			return fmt.Errorf("cpio: pad: %w", err)
		}
	}
	return nil
}
