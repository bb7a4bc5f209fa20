package convert

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// TestHolesAreNeitherReadNorWritten converts a 64 GiB disk that holds one
// grain: only that grain is read, only it (and qcow2 metadata) is written,
// and the heap stays small.
func TestHolesAreNeitherReadNorWritten(t *testing.T) {
	requireTools(t, "qemu-img", "qemu-io")
	dir := t.TempDir()
	src := filepath.Join(dir, "big.vmdk")
	run(t, "qemu-img", "create", "-q", "-f", "vmdk", src, "64G")
	run(t, "qemu-io", "-c", "write -P 0x5a 40G 64k", src)
	for _, format := range []string{FormatQCOW2, FormatRaw} {
		dst := filepath.Join(dir, "out."+format)
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		r, err := Disk(context.Background(), src, dst, DiskOptions{Format: format, NoChecksum: true})
		if err != nil {
			t.Fatal(err)
		}
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		if r.AllocatedBytes != 64<<10 || r.ReadBytes != 64<<10 {
			t.Errorf("%s: allocated %d, read %d bytes, want one 64 KiB grain", format, r.AllocatedBytes, r.ReadBytes)
		}
		if r.WrittenBytes > 1<<20 {
			t.Errorf("%s: wrote %d bytes for one grain", format, r.WrittenBytes)
		}
		if st, err := os.Stat(dst); err != nil || st.Size() != 64<<30 && format == FormatRaw {
			t.Errorf("%s: target %v %v", format, st.Size(), err)
		}
		// Windows and buffers are reused: 65536 windows allocate far less than 1 GiB.
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 256<<20 {
			t.Errorf("%s: allocated %d MiB for a 64 GiB disk", format, alloc>>20)
		}
		qemuCompare(t, src, dst)
	}
}
