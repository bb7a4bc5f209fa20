package image

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podvm-migrate/podvm-migrate/internal/testtool"
	"github.com/podvm-migrate/podvm-migrate/testenv/testguest"
)

// deltaSectors is the guest size of the ESX test disks: past the 2 MiB a
// vmfsSparse grain table covers, and not a multiple of it.
const deltaSectors = 21<<11 + 1

const baseCID = 0x0badcafe

// writeFile writes b to path.
func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// esxDescriptor is a one-extent VMDK descriptor as ESXi writes one; parent
// "" is a base disk.
func esxDescriptor(createType string, cid uint32, parent string, extent string) string {
	parentCID, hint := uint32(0xffffffff), ""
	if parent != "" {
		parentCID, hint = baseCID, fmt.Sprintf("parentFileNameHint=%q\n", parent)
	}
	return fmt.Sprintf("# Disk DescriptorFile\nversion=1\nencoding=\"UTF-8\"\nCID=%08x\nparentCID=%08x\ncreateType=%q\n%s"+
		"\n# Extent description\n%s\n\n# The Disk Data Base\n#DDB\n\nddb.adapterType = \"lsilogic\"\n", cid, parentCID, createType, hint, extent)
}

// writeESXBase writes base.vmdk and base-flat.vmdk into dir, a vmfs disk
// with random data in places, and returns its guest bytes.
func writeESXBase(t *testing.T, dir string) []byte {
	t.Helper()
	b := make([]byte, deltaSectors*512)
	rng := rand.New(rand.NewPCG(7, 8))
	for _, r := range [][2]int{{0, 64 << 10}, {3 << 20, 5 << 20}, {len(b) - 4096, len(b)}} {
		for i := r[0]; i < r[1]; i++ {
			b[i] = byte(rng.Uint32())
		}
	}
	writeFile(t, filepath.Join(dir, "base-flat.vmdk"), b)
	writeFile(t, filepath.Join(dir, "base.vmdk"), []byte(esxDescriptor("vmfs", baseCID, "",
		fmt.Sprintf(`RW %d VMFS "base-flat.vmdk"`, deltaSectors))))
	return b
}

// cowdDelta lays out a vmfsSparse (COWD, version 1) extent with grains of
// one sector, as ESXi writes them: the header, the grain directory, every
// grain table, then the given sectors in guest order.
func cowdDelta(sectors int64, data map[int64][]byte, order []int64) []byte {
	le := binary.LittleEndian
	const header, gtEntries = 2048, 4096
	nGT := (sectors + gtEntries - 1) / gtEntries
	gdAt := int64(header / 512)
	gtAt := gdAt + (nGT*4+511)/512
	free := gtAt + nGT*gtEntries*4/512
	f := make([]byte, free*512+int64(len(order))*512)
	for i := range nGT {
		le.PutUint32(f[gdAt*512+4*i:], uint32(gtAt+i*gtEntries*4/512))
	}
	for _, s := range order {
		le.PutUint32(f[gtAt*512+4*s:], uint32(free)) // the tables follow each other
		copy(f[free*512:(free+1)*512], data[s])
		free++
	}
	for i, v := range []uint32{0x44574f43, 1, 3, uint32(sectors), 1, uint32(gdAt), uint32(nGT), uint32(free)} {
		le.PutUint32(f[4*i:], v)
	}
	return f
}

// writeCOWDDelta writes delta.vmdk (descriptor) and delta-delta.vmdk
// (extent) over base.vmdk into dir and returns the guest bytes of the
// chain: base with the delta's sectors applied.
func writeCOWDDelta(t *testing.T, dir string, base []byte) []byte {
	t.Helper()
	data := map[int64][]byte{}
	var order []int64
	// The first sector, a run across a grain table boundary, sectors over
	// the base's data and over its zeros, and the last sector.
	for _, r := range [][2]int64{{0, 1}, {4090, 4106}, {3<<11 + 5, 3<<11 + 9}, {12 << 11, 12<<11 + 3}, {deltaSectors - 1, deltaSectors}} {
		for s := r[0]; s < r[1]; s++ {
			data[s] = []byte(strings.Repeat(fmt.Sprintf("delta sector %08d|", s), 512/22+1)[:512])
			order = append(order, s)
		}
	}
	want := append([]byte(nil), base...)
	for s, b := range data {
		copy(want[s*512:], b)
	}
	writeFile(t, filepath.Join(dir, "delta-delta.vmdk"), cowdDelta(deltaSectors, data, order))
	writeFile(t, filepath.Join(dir, "delta.vmdk"), []byte(esxDescriptor("vmfsSparse", 0x11111111, "base.vmdk",
		fmt.Sprintf(`RW %d VMFSSPARSE "delta-delta.vmdk"`, deltaSectors))))
	return want
}

// qemuCompare fails unless qemu-img finds both images hold the same guest bytes.
func qemuCompare(t *testing.T, a, b string) {
	t.Helper()
	if out, err := exec.Command("qemu-img", "compare", a, b).CombinedOutput(); err != nil {
		t.Errorf("qemu-img compare %s %s: %v: %s", filepath.Base(a), filepath.Base(b), err, out)
	}
}

// TestImageBuildConvertsThroughConvert builds images of disks only
// convert's readers see right (image's old sniffer took a COWD delta for
// raw) and checks the disk in the image is a standalone qcow2 holding the
// guest view of the source.
func TestImageBuildConvertsThroughConvert(t *testing.T) {
	g := testGuest(t)
	dir := t.TempDir()
	base := writeESXBase(t, dir)
	chain := filepath.Join(dir, "chain.raw")
	writeFile(t, chain, writeCOWDDelta(t, dir, base))
	overlay := filepath.Join(dir, "overlay.qcow2")
	testtool.Run(t, "qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", filepath.Join(g, testguest.Raw), overlay)
	testtool.Run(t, "qemu-io", "-c", "write -P 0x5a 1M 64k", overlay)
	cases := []struct {
		name string
		disk string
		want []string // images holding the same guest bytes
		size int64
	}{
		{"vmfsSparse delta over a vmfs base", filepath.Join(dir, "delta.vmdk"), []string{filepath.Join(dir, "delta.vmdk"), chain}, deltaSectors * 512},
		{"qcow2 over a raw backing file", overlay, []string{overlay}, 64 << 20},
		{"OVA's disk", filepath.Join(g, testguest.OVA), []string{filepath.Join(g, testguest.Raw)}, 64 << 20},
	}
	ctx := context.Background()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tmp := t.TempDir()
			ref := "oci:" + filepath.Join(tmp, "layout") + ":v1"
			built, err := Build(ctx, BuildOptions{Disks: []string{c.disk}, To: ref, WorkDir: tmp})
			if err != nil {
				t.Fatal(err)
			}
			if built.Disks[0].VirtualSize != c.size || built.Spec.Disks[0].CapacityBytes != c.size {
				t.Errorf("virtual size %d, capacity %d, want %d", built.Disks[0].VirtualSize, built.Spec.Disks[0].CapacityBytes, c.size)
			}
			un := filepath.Join(tmp, "unpacked")
			if _, err := Unpack(ctx, ref, un, RegistryOptions{}); err != nil {
				t.Fatal(err)
			}
			got := filepath.Join(un, "disk0.qcow2")
			info := testtool.Run(t, "qemu-img", "info", "--output=json", got)
			if !strings.Contains(info, `"format": "qcow2"`) || strings.Contains(info, "backing-filename") {
				t.Errorf("the disk in the image is not a standalone qcow2: %s", info)
			}
			testtool.Run(t, "qemu-img", "check", "-q", got)
			for _, w := range c.want {
				qemuCompare(t, w, got)
			}
		})
	}
}

// TestImageBuildBrokenDisks checks that a disk convert cannot read fails
// the build naming the file, and leaves no image behind.
func TestImageBuildBrokenDisks(t *testing.T) {
	g := testGuest(t)
	dir := t.TempDir()
	// cut writes the first keep(size) bytes of src as name.
	cut := func(name, src string, keep func(size int64) int64) string {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		writeFile(t, p, b[:keep(int64(len(b)))])
		return p
	}
	half := func(n int64) int64 { return n / 2 }
	first := func(n int64) func(int64) int64 { return func(int64) int64 { return n } }
	qcow := filepath.Join(dir, "whole.qcow2")
	testtool.Run(t, "qemu-img", "convert", "-O", "qcow2", filepath.Join(g, testguest.Raw), qcow)
	base := writeESXBase(t, dir)
	writeCOWDDelta(t, dir, base)
	if err := os.Remove(filepath.Join(dir, "base-flat.vmdk")); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		disk string
	}{
		{"sparse VMDK cut in its grains", cut("cut-grains.vmdk", filepath.Join(g, testguest.VMDK), half)},
		{"sparse VMDK cut in its header", cut("cut-header.vmdk", filepath.Join(g, testguest.VMDK), first(300))},
		{"stream VMDK cut", cut("cut-stream.vmdk", filepath.Join(g, testguest.Stream), half)},
		{"qcow2 cut in its header", cut("cut.qcow2", qcow, first(40))},
		{"qcow2 cut in its clusters", cut("cut-clusters.qcow2", qcow, half)},
		{"delta whose base lost its extent", filepath.Join(dir, "delta.vmdk")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tmp := t.TempDir()
			layout := filepath.Join(tmp, "layout")
			_, err := Build(context.Background(), BuildOptions{Disks: []string{c.disk}, To: "oci:" + layout + ":v1", WorkDir: tmp})
			if err == nil || !strings.Contains(err.Error(), c.disk) {
				t.Fatalf("error %v, want one naming %s", err, c.disk)
			}
			t.Log(err)
			checkNoOutput(t, tmp, layout)
		})
	}
}

// checkNoOutput fails if a build left its work folder in workDir or
// created the layout folder.
func checkNoOutput(t *testing.T, workDir, layout string) {
	t.Helper()
	if _, err := os.Stat(layout); !os.IsNotExist(err) {
		t.Errorf("the build left %s (%v)", layout, err)
	}
	left, _ := filepath.Glob(filepath.Join(workDir, "podvm-image-*"))
	if len(left) > 0 {
		t.Errorf("the build left %v", left)
	}
}
