package vmdk_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podvm-migrate/podvm-migrate/convert"
	"github.com/podvm-migrate/podvm-migrate/convert/treehash"
	"github.com/podvm-migrate/podvm-migrate/convert/vmdk"
	"github.com/podvm-migrate/podvm-migrate/disksource"
	"github.com/podvm-migrate/podvm-migrate/internal/testtool"
)

// esxDiskSize is not a multiple of an SEsparse grain, and spans several
// grain tables of both formats (2 MiB and 16 MiB).
const esxDiskSize = 37<<20 + 1536

const baseCID = 0x1a2b3c4d

// writeESXBase writes base.vmdk, a vmfs disk (descriptor and flat extent)
// with random data in places, and returns its guest bytes.
func writeESXBase(t *testing.T, dir string) []byte {
	t.Helper()
	b := make([]byte, esxDiskSize)
	rng := rand.New(rand.NewPCG(3, 4))
	for _, r := range [][2]int64{{0, 8 << 10}, {1 << 20, 4 << 20}, {15 << 20, 18 << 20}, {30 << 20, 31 << 20}, {esxDiskSize - 64<<10, esxDiskSize}} {
		for i := r[0]; i < r[1]; i++ {
			b[i] = byte(rng.Uint32())
		}
	}
	write(t, filepath.Join(dir, "base-flat.vmdk"), b)
	write(t, filepath.Join(dir, "base.vmdk"), []byte(vmdk.ESXDescriptor("vmfs", baseCID, "", 0xffffffff,
		fmt.Sprintf(`RW %d VMFS "base-flat.vmdk"`, esxDiskSize/512))))
	return b
}

func write(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// pattern is n bytes that say which grain they belong to.
func pattern(tag string, g int64, n int) []byte {
	unit := fmt.Sprintf("%s grain %08d|", tag, g)
	return bytes.Repeat([]byte(unit), n/len(unit)+1)[:n]
}

// grains fills the grains [from, to) of d with their patterns.
func grains(d *vmdk.ESXDelta, tag string, from, to int64) {
	for g := from; g < to; g++ {
		d.Data[g] = pattern(tag, g, int(d.Grain*512))
	}
}

// vmfsSparseDelta writes over the base with 512-byte grains, as ESXi does:
// the first and last sectors, 128 grains in a row, grains across a grain
// table boundary, and grains over the base's data and over its zeros.
func vmfsSparseDelta() vmdk.ESXDelta {
	d := vmdk.ESXDelta{Sectors: esxDiskSize / 512, Grain: 1, Data: map[int64][]byte{}}
	grains(&d, "cowd", 0, 1)
	grains(&d, "cowd", 2048, 2176)
	grains(&d, "cowd", 4090, 4106)
	grains(&d, "cowd", 30<<11+7, 30<<11+9)
	grains(&d, "cowd", 25<<11, 25<<11+3)
	grains(&d, "cowd", d.Sectors-1, d.Sectors)
	return d
}

// seSparseDelta writes 4 KiB grains: data as vmfsSparseDelta, the cut-short
// last grain, one far in the grain area, and zero and unmapped grains
// that must hide the base's data.
func seSparseDelta() vmdk.ESXDelta {
	d := vmdk.ESXDelta{Sectors: esxDiskSize / 512, Grain: 8, Data: map[int64][]byte{}, FarLast: true,
		Zero: []int64{300, 301, 302, 4200}, Unmapped: []int64{400, 3900}}
	grains(&d, "se1", 0, 2)
	grains(&d, "se1", 256, 264)
	grains(&d, "se1", 4094, 4099)
	grains(&d, "se1", 7000, 7001)
	grains(&d, "se1", (esxDiskSize-1)/4096, (esxDiskSize-1)/4096+1)
	return d
}

// seSparseTop is a second snapshot over seSparseDelta: a zero grain over
// its data, data over its zero grain, data beside its data.
func seSparseTop() vmdk.ESXDelta {
	d := vmdk.ESXDelta{Sectors: esxDiskSize / 512, Grain: 8, Data: map[int64][]byte{}, Zero: []int64{257, 4097}}
	grains(&d, "se2", 2, 3)
	grains(&d, "se2", 301, 302)
	grains(&d, "se2", 9000, 9001)
	return d
}

// TestESXDeltas reads vmfsSparse and SEsparse snapshot deltas through to
// their base. The reference is the base with the deltas' writes applied,
// built without a reader; qemu-img must find the delta descriptors equal
// to it (so the writer wrote what QEMU understands too), and every target
// the engine makes from them.
func TestESXDeltas(t *testing.T) {
	testtool.Require(t, "qemu-img")
	dir := t.TempDir()
	base := writeESXBase(t, dir)

	cowd := vmfsSparseDelta()
	write(t, filepath.Join(dir, "vm-delta.vmdk"), cowd.VMFSSparse())
	write(t, filepath.Join(dir, "vm-000001.vmdk"), []byte(vmdk.ESXDescriptor("vmfsSparse", 0x11111111, "base.vmdk", baseCID,
		fmt.Sprintf(`RW %d VMFSSPARSE "vm-delta.vmdk"`, cowd.Sectors))))

	se1, se2 := seSparseDelta(), seSparseTop()
	write(t, filepath.Join(dir, "vm-000002-sesparse.vmdk"), se1.SESparse())
	write(t, filepath.Join(dir, "vm-000002.vmdk"), []byte(vmdk.ESXDescriptor("seSparse", 0x22222222, "base.vmdk", baseCID,
		fmt.Sprintf(`RW %d SESPARSE "vm-000002-sesparse.vmdk"`, se1.Sectors))))
	write(t, filepath.Join(dir, "vm-000003-sesparse.vmdk"), se2.SESparse())
	write(t, filepath.Join(dir, "vm-000003.vmdk"), []byte(vmdk.ESXDescriptor("seSparse", 0x33333333, "vm-000002.vmdk", 0x22222222,
		fmt.Sprintf(`RW %d SESPARSE "vm-000003-sesparse.vmdk"`, se2.Sectors))))

	cases := []struct {
		name string
		desc string
		want []byte
	}{
		{"vmfsSparse", "vm-000001.vmdk", cowd.Apply(base)},
		{"seSparse", "vm-000002.vmdk", se1.Apply(base)},
		{"seSparse over seSparse", "vm-000003.vmdk", se2.Apply(se1.Apply(base))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if bytes.Equal(c.want, base) {
				t.Fatal("the delta changes nothing")
			}
			ref := filepath.Join(t.TempDir(), "ref.raw")
			write(t, ref, c.want)
			src := filepath.Join(dir, c.desc)
			testtool.Run(t, "qemu-img", "compare", "-f", "vmdk", "-F", "raw", src, ref)
			convertAndCompare(t, src, ref, c.want)
		})
	}
}

// convertAndCompare converts src to raw and qcow2 with the engine and
// checks the targets against the reference: qemu-img compare and check,
// the engine's checksums, and the raw target's bytes.
func convertAndCompare(t *testing.T, src, ref string, want []byte) {
	t.Helper()
	sum := treeSum(t, want)
	for _, format := range []string{convert.FormatRaw, convert.FormatQCOW2} {
		dst := filepath.Join(t.TempDir(), "out."+format)
		r, err := convert.Disk(context.Background(), disksource.File(src), dst, convert.DiskOptions{Format: format, Verify: true, Workers: 2})
		if err != nil {
			t.Fatalf("%s -> %s: %v", filepath.Base(src), format, err)
		}
		testtool.Run(t, "qemu-img", "compare", "-f", "raw", ref, dst)
		if r.SourceChecksum != sum || r.TargetChecksum != sum {
			t.Errorf("%s -> %s: checksum source %s target %s, want %s", filepath.Base(src), format, r.SourceChecksum, r.TargetChecksum, sum)
		}
		if format == convert.FormatQCOW2 {
			testtool.Run(t, "qemu-img", "check", dst)
			continue
		}
		if got, err := os.ReadFile(dst); err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s -> raw: the target's bytes differ from the reference (%v)", filepath.Base(src), err)
		}
	}
}

// treeSum is the engine's default digest of b, computed leaf by leaf.
func treeSum(t *testing.T, b []byte) string {
	t.Helper()
	var tr treehash.Tree
	tr.AddBytes(b)
	h, err := tr.Hex()
	if err != nil {
		t.Fatal(err)
	}
	return convert.SumTree + ":" + h
}

// TestESXDeltaBadInput damages small deltas: each conversion must fail with
// an error that names the extent file and the offset of the damage, and
// leave no target behind.
func TestESXDeltaBadInput(t *testing.T) {
	dir := t.TempDir()
	le := binary.LittleEndian
	small := func(grain int64) vmdk.ESXDelta {
		d := vmdk.ESXDelta{Sectors: 20000, Grain: grain, Data: map[int64][]byte{}, Zero: []int64{5}}
		grains(&d, "bad", 1, 3)
		grains(&d, "bad", 2000, 2001)
		return d
	}
	d1, d8 := small(1), small(8)
	d1.Zero = nil
	cowd, se := d1.VMFSSparse(), d8.SESparse()
	cowdGD, cowdGT := cowdEntries(cowd)
	seGD := int64(le.Uint64(se[128:])) * 512
	seGT := seEntry(se, 3)
	seVol := int64(le.Uint64(se[80:])) * 512

	patched := func(b []byte, off int64, v uint64, size int) []byte {
		c := bytes.Clone(b)
		if size == 4 {
			le.PutUint32(c[off:], uint32(v))
		} else {
			le.PutUint64(c[off:], v)
		}
		return c
	}
	cases := []struct {
		name, typ string
		extent    []byte
		want      []string // besides the extent file's name
	}{
		{"vmfsSparse truncated header", "VMFSSPARSE", cowd[:1000], []string{"offset 0:", "truncated"}},
		{"vmfsSparse bad magic", "VMFSSPARSE", patched(cowd, 0, 0x41414141, 4), []string{"offset 0:", "COWD magic"}},
		{"vmfsSparse old version", "VMFSSPARSE", patched(cowd, 4, 3, 4), []string{"offset 4:", "version 3"}},
		{"vmfsSparse grain table past the end", "VMFSSPARSE", patched(cowd, cowdGD, 0x7fffff00, 4), []string{fmt.Sprintf("offset %d:", cowdGD), "past the end"}},
		{"vmfsSparse grain past the end", "VMFSSPARSE", patched(cowd, cowdGT, 0x7fffff00, 4), []string{fmt.Sprintf("offset %d:", cowdGT), "past the end"}},
		{"vmfsSparse grain in the header", "VMFSSPARSE", patched(cowd, cowdGT, 1, 4), []string{fmt.Sprintf("offset %d:", cowdGT), "into the header"}},
		{"seSparse truncated header", "SESPARSE", se[:100], []string{"offset 0:", "truncated"}},
		{"seSparse bad magic", "SESPARSE", patched(se, 0, 0xcafebabf, 8), []string{"offset 0:", "magic"}},
		{"seSparse dirty journal", "SESPARSE", patched(se, seVol+24, 1, 8), []string{fmt.Sprintf("offset %d:", seVol+24), "journal"}},
		{"seSparse unknown directory entry", "SESPARSE", patched(se, seGD, 2<<60, 8), []string{fmt.Sprintf("offset %d:", seGD), "unknown type 2"}},
		{"seSparse grain table past the end", "SESPARSE", patched(se, seGD, 1<<60|1<<20, 8), []string{fmt.Sprintf("offset %d:", seGD), "past the end"}},
		{"seSparse unknown grain entry", "SESPARSE", patched(se, seGT, 5<<60, 8), []string{fmt.Sprintf("offset %d:", seGT), "unknown type 5"}},
		{"seSparse damaged unallocated entry", "SESPARSE", patched(se, seGT, 7, 8), []string{fmt.Sprintf("offset %d:", seGT), "unknown type 0"}},
		{"seSparse grain past the end", "SESPARSE", patched(se, seGT, 3<<60|0x12345, 8), []string{fmt.Sprintf("offset %d:", seGT), "past the end"}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			name := fmt.Sprintf("bad%02d-delta.vmdk", i)
			write(t, filepath.Join(dir, name), c.extent)
			src := filepath.Join(dir, fmt.Sprintf("bad%02d.vmdk", i))
			write(t, src, []byte(vmdk.ESXDescriptor("vmfsSparse", 1, "", 0xffffffff, fmt.Sprintf(`RW 20000 %s "%s"`, c.typ, name))))
			out := t.TempDir()
			_, err := convert.Disk(context.Background(), disksource.File(src), filepath.Join(out, "out.qcow2"), convert.DiskOptions{Format: convert.FormatQCOW2, Workers: 2})
			if err == nil {
				t.Fatalf("converting %s worked", name)
			}
			t.Log(err)
			for _, w := range append(c.want, name) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if left, _ := os.ReadDir(out); len(left) != 0 {
				t.Errorf("failed conversion left %v behind", left)
			}
		})
	}
}

// cowdEntries returns the file offsets of the first grain directory entry
// that names a table and of the first allocated entry of that table.
func cowdEntries(b []byte) (gdEntry, gtEntry int64) {
	le := binary.LittleEndian
	gd := int64(le.Uint32(b[20:])) * 512
	for i := int64(0); ; i++ {
		if gt := int64(le.Uint32(b[gd+4*i:])) * 512; gt != 0 {
			for j := gt; ; j += 4 {
				if le.Uint32(b[j:]) != 0 {
					return gd + 4*i, j
				}
			}
		}
	}
}

// seEntry returns the file offset of the first grain table entry of type typ.
func seEntry(b []byte, typ uint64) int64 {
	le := binary.LittleEndian
	gd, tables := int64(le.Uint64(b[128:]))*512, int64(le.Uint64(b[144:]))*512
	for i := gd; ; i += 8 {
		if v := le.Uint64(b[i:]); v != 0 {
			gt := tables + int64(v&0xffffffff)*int64(le.Uint64(b[32:]))*512
			for j := gt; j < gt+int64(le.Uint64(b[32:]))*512; j += 8 {
				if le.Uint64(b[j:])>>60 == typ {
					return j
				}
			}
		}
	}
}
