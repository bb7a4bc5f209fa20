package convert

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podvm-migrate/podvm-migrate/internal/testtool"
)

func TestVMDKSubformatsRoundTrip(t *testing.T) {
	testtool.Require(t, "qemu-img")
	dir := t.TempDir()
	rawPath := filepath.Join(dir, "disk.raw")
	writeTestRaw(t, rawPath)
	want := sumsOf(t, rawPath)
	for _, sub := range []string{"monolithicSparse", "streamOptimized", "monolithicFlat", "twoGbMaxExtentSparse", "twoGbMaxExtentFlat"} {
		t.Run(sub, func(t *testing.T) {
			src := filepath.Join(dir, sub+".vmdk")
			testtool.Run(t, "qemu-img", "convert", "-f", "raw", "-O", "vmdk", "-o", "subformat="+sub, rawPath, src)
			convertAndCheck(t, src, want)
		})
	}
}

// TestVMFSAndMultiExtentDescriptors reads descriptors written the way ESXi
// writes them (vmfs, vmfsThin) and one that mixes FLAT, ZERO and SPARSE extents.
func TestVMFSAndMultiExtentDescriptors(t *testing.T) {
	testtool.Require(t, "qemu-img")
	dir := t.TempDir()
	rawPath := filepath.Join(dir, "disk.raw")
	writeTestRaw(t, rawPath)
	want := sumsOf(t, rawPath)
	sectors := int64(testDiskSize / 512)
	data, err := os.ReadFile(rawPath)
	if err != nil {
		t.Fatal(err)
	}
	// vmfs: one flat extent file; vmfsThin: the same, sparse on disk.
	if err := os.WriteFile(filepath.Join(dir, "vm-flat.vmdk"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	testtool.Run(t, "cp", "--sparse=always", rawPath, filepath.Join(dir, "thin-flat.vmdk"))
	// multi: sectors [0,a) flat at an offset inside a bigger file, [a,b) zero
	// (the test disk has no data there), [b,end) a sparse extent.
	a, b := int64(5<<20/512), int64(9<<20/512)
	head := append(make([]byte, 4096), data[:a*512]...)
	if err := os.WriteFile(filepath.Join(dir, "multi-f001.vmdk"), head, 0o644); err != nil {
		t.Fatal(err)
	}
	tail := filepath.Join(dir, "tail.raw")
	if err := os.WriteFile(tail, data[b*512:], 0o644); err != nil {
		t.Fatal(err)
	}
	testtool.Run(t, "qemu-img", "convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=twoGbMaxExtentSparse", tail, filepath.Join(dir, "tail.vmdk"))
	descs := map[string]string{
		"vmfs.vmdk":     descriptor("vmfs", "", fmt.Sprintf("RW %d VMFS \"vm-flat.vmdk\"", sectors)),
		"vmfsThin.vmdk": descriptor("vmfsThin", "", fmt.Sprintf("RW %d VMFS \"thin-flat.vmdk\" 0", sectors)),
		"multi.vmdk": descriptor("custom", "", fmt.Sprintf("RW %d FLAT \"multi-f001.vmdk\" 8", a),
			fmt.Sprintf("RW %d ZERO", b-a), fmt.Sprintf("RW %d SPARSE \"tail-s001.vmdk\"", sectors-b)),
	}
	for name, text := range descs {
		t.Run(name, func(t *testing.T) {
			src := filepath.Join(dir, name)
			if err := os.WriteFile(src, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			// qemu-img knows vmfs but neither vmfsThin nor mixed extents.
			convertAndCompare(t, src, rawPath, want)
		})
	}
}

// descriptor writes a VMDK descriptor file.
func descriptor(createType, parent string, extents ...string) string {
	var b strings.Builder
	b.WriteString("# Disk DescriptorFile\nversion=1\nencoding=\"UTF-8\"\nCID=12345678\n")
	if parent != "" {
		fmt.Fprintf(&b, "parentCID=ffffffff\nparentFileNameHint=\"%s\"\n", parent)
	} else {
		b.WriteString("parentCID=ffffffff\n")
	}
	fmt.Fprintf(&b, "createType=\"%s\"\n\n# Extent description\n", createType)
	for _, e := range extents {
		b.WriteString(e + "\n")
	}
	b.WriteString("\n# The Disk Data Base\n#DDB\n\nddb.adapterType = \"lsilogic\"\nddb.virtualHWVersion = \"14\"\n")
	return b.String()
}

// TestSnapshotChains reads delta disks through to their base: a two-level
// qemu-img chain, with data, zero writes and writes across a grain table.
func TestSnapshotChains(t *testing.T) {
	testtool.Require(t, "qemu-img", "qemu-io")
	dir := t.TempDir()
	rawPath := filepath.Join(dir, "disk.raw")
	writeTestRaw(t, rawPath)
	base := filepath.Join(dir, "base.vmdk")
	testtool.Run(t, "qemu-img", "convert", "-f", "raw", "-O", "vmdk", rawPath, base)
	snap1 := filepath.Join(dir, "snap1.vmdk")
	snap2 := filepath.Join(dir, "snap2.vmdk")
	testtool.Run(t, "qemu-img", "create", "-q", "-f", "vmdk", "-b", "base.vmdk", "-F", "vmdk", snap1)
	testtool.Run(t, "qemu-io", "-c", "write -P 0xab 1M 64k", "-c", "write -P 0x11 31M 2M", snap1)
	testtool.Run(t, "qemu-img", "create", "-q", "-f", "vmdk", "-b", "snap1.vmdk", "-F", "vmdk", snap2)
	testtool.Run(t, "qemu-io", "-c", "write -z 1M 1M", "-c", "write -P 0x22 20M 4k", snap2)
	// The guest view of the chain, as qemu-img sees it.
	flat := filepath.Join(dir, "chain.raw")
	testtool.Run(t, "qemu-img", "convert", "-O", "raw", snap2, flat)
	convertAndCheck(t, snap2, sumsOf(t, flat))
}

func TestQCOW2Sources(t *testing.T) {
	testtool.Require(t, "qemu-img", "qemu-io")
	dir := t.TempDir()
	rawPath := filepath.Join(dir, "disk.raw")
	writeTestRaw(t, rawPath)
	plain := filepath.Join(dir, "plain.qcow2")
	comp := filepath.Join(dir, "comp.qcow2")
	over := filepath.Join(dir, "over.qcow2")
	testtool.Run(t, "qemu-img", "convert", "-f", "raw", "-O", "qcow2", rawPath, plain)
	testtool.Run(t, "qemu-img", "convert", "-c", "-f", "raw", "-O", "qcow2", "-o", "cluster_size=4096", rawPath, comp)
	testtool.Run(t, "qemu-img", "create", "-q", "-f", "qcow2", "-b", "comp.qcow2", "-F", "qcow2", over)
	testtool.Run(t, "qemu-io", "-c", "write -P 0xcd 2M 64k", "-c", "write -z 20M 1M", over)
	want := sumsOf(t, rawPath)
	for _, src := range []string{plain, comp, rawPath} {
		t.Run(filepath.Base(src), func(t *testing.T) { convertAndCheck(t, src, want) })
	}
	t.Run("backing chain", func(t *testing.T) {
		flat := filepath.Join(dir, "over.raw")
		testtool.Run(t, "qemu-img", "convert", "-O", "raw", over, flat)
		convertAndCheck(t, over, sumsOf(t, flat))
	})
}
