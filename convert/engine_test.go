package convert

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/podvm-migrate/podvm-migrate/convert/treehash"
	"github.com/podvm-migrate/podvm-migrate/disksource"
	"github.com/podvm-migrate/podvm-migrate/internal/testtool"
)

// TestHolesAreNeitherReadNorWritten converts a 64 GiB disk that holds one
// grain: only that grain is read, only it (and qcow2 metadata) is written,
// the heap stays small, and the tree hash covers the holes without hashing them.
func TestHolesAreNeitherReadNorWritten(t *testing.T) {
	testtool.Require(t, "qemu-img", "qemu-io")
	dir := t.TempDir()
	src := filepath.Join(dir, "big.vmdk")
	testtool.Run(t, "qemu-img", "create", "-q", "-f", "vmdk", src, "64G")
	testtool.Run(t, "qemu-io", "-c", "write -P 0x5a 40G 64k", src)
	for _, format := range []string{FormatQCOW2, FormatRaw} {
		dst := filepath.Join(dir, "out."+format)
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		r, err := Disk(context.Background(), disksource.File(src), dst, DiskOptions{Format: format})
		if err != nil {
			t.Fatal(err)
		}
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		if r.AllocatedBytes != 64<<10 || r.ReadBytes != 64<<10 {
			t.Errorf("%s: allocated %d, read %d bytes, want one 64 KiB grain", format, r.AllocatedBytes, r.ReadBytes)
		}
		var want treehash.Tree
		want.AddZeros(40 << 30)
		leaf := make([]byte, treehash.LeafSize)
		copy(leaf, bytes.Repeat([]byte{0x5a}, 64<<10))
		want.Add(treehash.Leaf(leaf), len(leaf))
		want.AddZeros(24<<30 - treehash.LeafSize)
		if h, _ := want.Hex(); r.SourceChecksum != SumTree+":"+h {
			t.Errorf("%s: checksum %s, want %s:%s", format, r.SourceChecksum, SumTree, h)
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
