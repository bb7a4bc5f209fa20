package qcow2

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/podvm-migrate/podvm-migrate/convert/block"
	"github.com/podvm-migrate/podvm-migrate/convert/internal/inflate"
)

// extBackingFormat is the header extension naming the backing file's format.
const extBackingFormat = 0xe2792aca

// Image is a qcow2 image opened for reading (its active layer; internal
// snapshots are ignored).
type Image struct {
	f             *block.File
	h             header
	cluster       int64
	l2Entries     int64
	l1            []uint64
	BackingFile   string // as written in the image, relative to its folder
	BackingFormat string // from the header extension, if any

	l2Index int64
	l2      []uint64
	l2Off   int64
	inf     inflate.Inflater
}

var _ block.Image = (*Image)(nil)

// Open opens a qcow2 image and reads its header and L1 table.
func Open(path string) (*Image, error) {
	f, err := block.OpenFile(path)
	if err != nil {
		return nil, err
	}
	img, err := open(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return img, nil
}

// OpenFile opens a qcow2 image in an open file (local or remote).
func OpenFile(f *block.File) (*Image, error) { return open(f) }

func open(f *block.File) (*Image, error) {
	hb := make([]byte, min(f.Len, 4096))
	if err := f.ReadFull(hb, 0); err != nil {
		return nil, err
	}
	h, err := parseHeader(f.Name, hb)
	if err != nil {
		return nil, err
	}
	img := &Image{f: f, h: h, cluster: 1 << h.ClusterBits, l2Index: -1}
	img.l2Entries = img.cluster / 8
	need := (int64(h.Size) + img.cluster*img.l2Entries - 1) / (img.cluster * img.l2Entries)
	if int64(h.L1Size) < need || h.L1Size > 1<<26 {
		return nil, block.Errorf(f.Name, 36, "L1 table of %d entries cannot map %d bytes", h.L1Size, h.Size)
	}
	if h.L1Offset > uint64(f.Len) || int64(h.L1Offset)+int64(h.L1Size)*8 > f.Len {
		return nil, block.Errorf(f.Name, 40, "truncated: the L1 table at offset %d does not fit in the file (%d bytes)", h.L1Offset, f.Len)
	}
	raw := make([]byte, int64(h.L1Size)*8)
	if err := f.ReadFull(raw, int64(h.L1Offset)); err != nil {
		return nil, fmt.Errorf("L1 table: %w", err)
	}
	img.l1 = make([]uint64, h.L1Size)
	for i := range img.l1 {
		img.l1[i] = binary.BigEndian.Uint64(raw[8*i:])
	}
	if h.BackingOffset != 0 {
		if h.BackingSize > 1023 {
			return nil, block.Errorf(f.Name, 16, "backing file name of %d bytes is too long", h.BackingSize)
		}
		name := make([]byte, h.BackingSize)
		if err := f.ReadFull(name, int64(h.BackingOffset)); err != nil {
			return nil, fmt.Errorf("backing file name: %w", err)
		}
		img.BackingFile = string(name)
		img.BackingFormat = backingFormat(hb, h)
	}
	return img, nil
}

// backingFormat finds the backing format header extension.
func backingFormat(hb []byte, h header) string {
	off := int(h.HeaderLength)
	if h.Version < 3 {
		off = 72
	}
	for off+8 <= len(hb) {
		typ := binary.BigEndian.Uint32(hb[off:])
		n := int(binary.BigEndian.Uint32(hb[off+4:]))
		if typ == 0 || off+8+n > len(hb) {
			break
		}
		if typ == extBackingFormat {
			return string(hb[off+8 : off+8+n])
		}
		off += 8 + (n+7)&^7
	}
	return ""
}

// Format is "qcow2".
func (*Image) Format() string { return "qcow2" }

// Size is the guest size.
func (img *Image) Size() int64 { return int64(img.h.Size) }

// Close closes the file.
func (img *Image) Close() error { return img.f.Close() }

// entry returns the L2 entry of guest cluster c and where it is stored.
func (img *Image) entry(c int64) (uint64, int64, error) {
	i := c / img.l2Entries
	if i != img.l2Index {
		img.l2Index = -1
		l1 := img.l1[i]
		off := int64(l1 & offsetMask)
		if off == 0 {
			img.l2Index = i
			img.l2Off = 0
		} else {
			raw := make([]byte, img.cluster)
			if err := img.f.ReadFull(raw, off); err != nil {
				return 0, 0, fmt.Errorf("L2 table %d (L1 entry at offset %d): %w", i, int64(img.h.L1Offset)+8*i, err)
			}
			if img.l2 == nil {
				img.l2 = make([]uint64, img.l2Entries)
			}
			for k := range img.l2 {
				img.l2[k] = binary.BigEndian.Uint64(raw[8*k:])
			}
			img.l2Index, img.l2Off = i, off
		}
	}
	if img.l2Off == 0 {
		return 0, 0, nil
	}
	k := c % img.l2Entries
	return img.l2[k], img.l2Off + 8*k, nil
}

func kindOf(e uint64) block.Kind {
	switch {
	case e&flagCompress != 0:
		return block.Data
	case e&flagZero != 0:
		return block.Zero
	case e&offsetMask == 0:
		return block.Hole
	}
	return block.Data
}

// Map maps off to a run of at most max bytes.
func (img *Image) Map(_ context.Context, off, max int64) (block.Run, error) {
	max = min(max, img.Size()-off)
	c := off / img.cluster
	within := off % img.cluster
	e, where, err := img.entry(c)
	if err != nil {
		return block.Run{}, err
	}
	first := min(img.cluster-within, max)
	kind := kindOf(e)
	if kind != block.Data {
		n := first
		for n < max {
			next, _, err := img.entry((off + n) / img.cluster)
			if err != nil {
				return block.Run{}, err
			}
			if kindOf(next) != kind {
				break
			}
			n = min(n+img.cluster, max)
		}
		return block.Run{Length: n, Kind: kind}, nil
	}
	if e&flagCompress != 0 {
		return img.compressedRun(e, where, within, first)
	}
	host := int64(e&offsetMask) + within
	n := first
	for n < max {
		next, _, err := img.entry((off + n) / img.cluster)
		if err != nil {
			return block.Run{}, err
		}
		if kindOf(next) != block.Data || next&flagCompress != 0 || int64(next&offsetMask) != host+n {
			break
		}
		n = min(n+img.cluster, max)
	}
	if host+n > img.f.Len {
		return block.Run{}, block.Errorf(img.f.Name, where, "L2 entry points to offset %d, past the end of the file (%d bytes)", host-within, img.f.Len)
	}
	f := img.f
	return block.Run{Length: n, Kind: block.Data, Stored: n, Read: func(_ context.Context, dst []byte) error {
		return f.ReadFull(dst, host)
	}}, nil
}

// compressedRun maps part of a deflated cluster.
func (img *Image) compressedRun(e uint64, where, within, n int64) (block.Run, error) {
	shift := 62 - (img.h.ClusterBits - 8)
	pos := int64(e & (1<<shift - 1))
	sectors := int64((e>>shift)&(1<<(img.h.ClusterBits-8)-1)) + 1
	size := sectors*512 - pos%512
	if pos >= img.f.Len {
		return block.Run{}, block.Errorf(img.f.Name, where, "compressed cluster at offset %d is past the end of the file (%d bytes)", pos, img.f.Len)
	}
	size = min(size, img.f.Len-pos)
	return block.Run{Length: n, Kind: block.Data, Stored: size, Read: func(_ context.Context, dst []byte) error {
		comp := make([]byte, size)
		if err := img.f.ReadFull(comp, pos); err != nil {
			return err
		}
		out := dst
		if within != 0 || int64(len(dst)) != img.cluster {
			out = make([]byte, img.cluster)
		}
		if err := img.inflate(comp, out, pos); err != nil {
			return err
		}
		if &out[0] != &dst[0] {
			copy(dst, out[within:])
		}
		return nil
	}}, nil
}

func (img *Image) inflate(comp, out []byte, pos int64) error {
	if err := img.inf.Raw(out, comp); err != nil {
		return block.Wrap(img.f.Name, pos, err, "compressed cluster")
	}
	return nil
}
