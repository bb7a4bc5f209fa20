package vmdk

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
)

// ESXDelta is what a snapshot wrote over its parent, grain by grain. Tests
// write it as an ESX delta extent (VMFSSparse, SESparse) and apply it to the
// parent's bytes (Apply) for a reference that does not go through a reader.
// The writers lay files out their own way, not as ESXi does, but within
// what the formats allow: QEMU must read them the same (qemu-img compare).
type ESXDelta struct {
	Sectors  int64            // guest size
	Grain    int64            // grain size in sectors
	Data     map[int64][]byte // grain → its bytes (at most a grain; the rest is zero)
	Zero     []int64          // zero grains (SEsparse only)
	Unmapped []int64          // grains unmapped by the guest (SEsparse only)
	// GTSectors is the size of an SEsparse grain table; 0 means 64, the
	// only size ESXi writes.
	GTSectors int64
	// FarLast gives the last data grain of an SEsparse delta grain index
	// 4101, so that its entry uses both parts of the index encoding.
	FarLast bool
}

// grainBytes is one whole grain of g's data.
func (d ESXDelta) grainBytes(g int64) []byte {
	b := make([]byte, d.Grain*sector)
	copy(b, d.Data[g])
	return b
}

// Apply returns base, cut or grown to the delta's size, with the delta's
// writes applied.
func (d ESXDelta) Apply(base []byte) []byte {
	size := d.Sectors * sector
	out := make([]byte, size)
	copy(out, base)
	put := func(g int64, b []byte) {
		if off := g * d.Grain * sector; off < size {
			copy(out[off:min(off+d.Grain*sector, size)], b)
		}
	}
	for _, g := range slices.Concat(d.Zero, d.Unmapped) {
		put(g, make([]byte, d.Grain*sector))
	}
	for g := range d.Data {
		put(g, d.grainBytes(g))
	}
	return out
}

// dataGrains are the grains with data, in guest order.
func (d ESXDelta) dataGrains() []int64 {
	gs := make([]int64, 0, len(d.Data))
	for g := range d.Data {
		gs = append(gs, g)
	}
	slices.Sort(gs)
	return gs
}

// fileBuf is a file being built at sector offsets.
type fileBuf []byte

func (b *fileBuf) put(sectorOff int64, data []byte) {
	end := sectorOff*sector + int64(len(data))
	if int64(len(*b)) < end {
		*b = append(*b, make([]byte, end-int64(len(*b)))...)
	}
	copy((*b)[sectorOff*sector:], data)
}

// VMFSSparse writes the delta as an ESX vmfsSparse (COWD) extent: the
// header, the grain directory after it, and then grain tables and grains
// in the order a guest writing its grains in guest order allocates them.
func (d ESXDelta) VMFSSparse() []byte {
	le := binary.LittleEndian
	cover := d.Grain * cowdGTEntries
	nGD := (d.Sectors + cover - 1) / cover
	gdSectors := (nGD*4 + sector - 1) / sector
	var f fileBuf
	gd := make([]byte, gdSectors*sector)
	gts := map[int64][]byte{} // table → its entries
	gtAt := map[int64]int64{} // table → its sector
	free := cowdHeaderSize/sector + gdSectors
	for _, g := range d.dataGrains() {
		t := g / cowdGTEntries
		if gts[t] == nil {
			gts[t] = make([]byte, cowdGTEntries*4)
			gtAt[t] = free
			le.PutUint32(gd[4*t:], uint32(free))
			free += cowdGTEntries * 4 / sector
		}
		le.PutUint32(gts[t][4*(g%cowdGTEntries):], uint32(free))
		f.put(free, d.grainBytes(g))
		free += d.Grain
	}
	for t, gt := range gts {
		f.put(gtAt[t], gt)
	}
	h := make([]byte, cowdHeaderSize)
	le.PutUint32(h[0:], cowdMagic)
	le.PutUint32(h[4:], cowdVersion)
	le.PutUint32(h[8:], 3)
	le.PutUint32(h[12:], uint32(d.Sectors))
	le.PutUint32(h[16:], uint32(d.Grain))
	le.PutUint32(h[20:], cowdHeaderSize/sector)
	le.PutUint32(h[24:], uint32(nGD))
	le.PutUint32(h[28:], uint32(free))
	f.put(0, h)
	f.put(cowdHeaderSize/sector, gd)
	return f
}

// SESparse writes the delta as an SEsparse extent: headers, a journal
// sector, the grain directory, a grain table area with room for every
// table, a bitmap and a backmap sector, and the grains. Tables get indices
// from the end of the disk back; grains get indices in guest order.
func (d ESXDelta) SESparse() []byte {
	le := binary.LittleEndian
	gtSectors := d.GTSectors
	if gtSectors == 0 {
		gtSectors = 64
	}
	gtEntries := int64(gtSectors * sector / 8)
	nGT := (d.Sectors + d.Grain*gtEntries - 1) / (d.Grain * gtEntries)
	gdSectors := (nGT*8 + sector - 1) / sector
	gdAt := int64(4)
	tablesAt := gdAt + gdSectors
	bitmapAt := tablesAt + nGT*gtSectors
	grainsAt := bitmapAt + 2

	var used []int64
	for g := range d.Data {
		used = append(used, g/gtEntries)
	}
	for _, g := range slices.Concat(d.Zero, d.Unmapped) {
		used = append(used, g/gtEntries)
	}
	slices.Sort(used)
	used = slices.Compact(used)
	slices.Reverse(used)
	gd := make([]byte, gdSectors*sector)
	gts := map[int64][]byte{}
	for i, t := range used {
		le.PutUint64(gd[8*t:], seDirTable<<seTypeShift|uint64(i))
		gts[t] = make([]byte, gtEntries*8)
	}
	set := func(g int64, v uint64) { le.PutUint64(gts[g/gtEntries][8*(g%gtEntries):], v) }
	for _, g := range d.Zero {
		set(g, seGrainZero<<seTypeShift)
	}
	for _, g := range d.Unmapped {
		set(g, seGrainUnmapped<<seTypeShift)
	}
	var f fileBuf
	grains := d.dataGrains()
	slots := int64(0)
	for i, g := range grains {
		idx := uint64(i)
		if d.FarLast && i == len(grains)-1 {
			idx = 4101
		}
		set(g, seGrainData<<seTypeShift|(idx&0xfff)<<48|idx>>12)
		f.put(grainsAt+int64(idx)*d.Grain, d.grainBytes(g))
		slots = max(slots, int64(idx)+1)
	}
	for i, t := range used {
		f.put(tablesAt+int64(i)*gtSectors, gts[t])
	}
	h := make([]byte, sector)
	for i, v := range []uint64{
		seConstMagic, seVersion, uint64(d.Sectors), uint64(d.Grain), uint64(gtSectors), 0, 0, 0, 0, 0,
		1, 1, // volatile header
		2, 1, 3, 1, // journal header, journal
		uint64(gdAt), uint64(gdSectors), uint64(tablesAt), uint64(nGT * gtSectors),
		uint64(bitmapAt), 1, uint64(bitmapAt + 1), 1,
		uint64(grainsAt), uint64(slots * d.Grain),
	} {
		le.PutUint64(h[8*i:], v)
	}
	f.put(0, h)
	vol := make([]byte, sector)
	le.PutUint64(vol[0:], seVolatileMagic)
	le.PutUint64(vol[8:], uint64(len(used)))
	le.PutUint64(vol[16:], 1)
	f.put(1, vol)
	f.put(gdAt, gd)
	f.put(grainsAt-1, make([]byte, sector)) // the backmap: the file reaches the grains
	return f
}

// ESXDescriptor is the descriptor of a one-extent disk, as ESXi writes it.
func ESXDescriptor(createType string, cid uint32, parent string, parentCID uint32, extent string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Disk DescriptorFile\nversion=1\nencoding=\"UTF-8\"\nCID=%08x\nparentCID=%08x\n", cid, parentCID)
	fmt.Fprintf(&b, "isNativeSnapshot=\"no\"\ncreateType=\"%s\"\n", createType)
	if parent != "" {
		fmt.Fprintf(&b, "parentFileNameHint=\"%s\"\n", parent)
	}
	fmt.Fprintf(&b, "\n# Extent description\n%s\n\n# The Disk Data Base\n#DDB\n\nddb.adapterType = \"lsilogic\"\nddb.virtualHWVersion = \"19\"\n", extent)
	return b.String()
}
