package vcsim

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	"github.com/podvm-migrate/podvm-migrate/testenv/internal/diskimg"
)

// A layer is one file of a disk chain that the CBT double reads and
// writes: a hosted sparse extent (KDMV, the monolithicSparse base qemu-img
// makes and every delta the double makes) or a flat disk (a descriptor with
// one FLAT or VMFS extent).
type layer interface {
	path() string // the descriptor (or the sparse file), local
	cid() uint32
	// lookup says where guest offset off lives in this layer: the byte
	// offset in the data file and how many bytes from there on are
	// stored the same way (to the end of the grain); ok false when this
	// layer does not hold off (a hole, read through to the parent).
	lookup(off int64) (fileOff, run int64, ok bool, err error)
	readAt(p []byte, fileOff int64) error
	// write stores p at guest offset off (within one grain of a sparse
	// layer); below reads what the layer's parents hold there, for the
	// rest of a newly allocated grain.
	write(p []byte, off int64, below func(p []byte, off int64) error) error
	// allocated calls f with each run of guest bytes the layer holds.
	allocated(f func(off, n int64)) error
	close() error
}

const (
	kdmvMagic     = 0x564d444b
	sparseFlagNL  = 1 << 0 // newline detection bytes are valid
	sparseFlagRGD = 1 << 1 // a redundant grain directory is kept
	sparseFlagZGT = 1 << 2 // grain table entry 1 means a zero grain
	deltaGrain    = 64 << 10
	deltaGTEs     = 512
	descSectors   = 20
)

// openLayer opens the disk file at local path, writable when rw.
func openLayer(local string, rw bool) (layer, error) {
	mode := os.O_RDONLY
	if rw {
		mode = os.O_RDWR
	}
	f, err := os.OpenFile(local, mode, 0)
	if err != nil {
		return nil, err
	}
	var magic [4]byte
	if _, err := f.ReadAt(magic[:], 0); err != nil && !errors.Is(err, io.EOF) {
		f.Close()
		return nil, fmt.Errorf("%s: %w", local, err)
	}
	if binary.LittleEndian.Uint32(magic[:]) == kdmvMagic {
		return openSparseLayer(f, local)
	}
	defer f.Close()
	return openFlatLayer(local, rw)
}

// sparseLayer is a hosted sparse extent with its descriptor embedded.
type sparseLayer struct {
	f        *os.File
	local    string
	capacity int64
	grain    int64
	gtes     int64
	flags    uint32
	gdOff    int64      // bytes
	rgdOff   int64      // bytes; 0 when there is no redundant directory
	gd, rgd  []uint32   // sector offsets of the grain tables
	gt       [][]uint32 // the grain tables, read once; nil when not allocated
	end      int64      // where the next grain goes
	descOff  int64
	descSize int64
}

func openSparseLayer(f *os.File, local string) (*sparseLayer, error) {
	hb := make([]byte, 512)
	if _, err := f.ReadAt(hb, 0); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: header: %w", local, err)
	}
	le := binary.LittleEndian
	s := &sparseLayer{f: f, local: local, flags: le.Uint32(hb[8:]), capacity: int64(le.Uint64(hb[12:])) * 512,
		grain: int64(le.Uint64(hb[20:])) * 512, descOff: int64(le.Uint64(hb[28:])) * 512, descSize: int64(le.Uint64(hb[36:])) * 512,
		gtes: int64(le.Uint32(hb[44:])), rgdOff: int64(le.Uint64(hb[48:])) * 512, gdOff: int64(le.Uint64(hb[56:])) * 512}
	fail := func(format string, a ...any) (*sparseLayer, error) {
		f.Close()
		return nil, fmt.Errorf("%s: "+format+"; the CBT double writes only uncompressed hosted sparse files", append([]any{local}, a...)...)
	}
	switch {
	case s.flags&(1<<16|1<<17) != 0 || le.Uint16(hb[77:]) != 0:
		return fail("compressed (streamOptimized) grains")
	case le.Uint64(hb[56:]) == ^uint64(0):
		return fail("grain directory at the end of the file")
	case s.grain < 512 || s.grain&(s.grain-1) != 0 || s.gtes <= 0 || s.gtes > 1<<16:
		return fail("grain size %d, %d entries per grain table", s.grain, s.gtes)
	}
	if s.flags&sparseFlagRGD == 0 {
		s.rgdOff = 0
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	s.end = (st.Size() + 511) &^ 511
	n := (s.capacity + s.grain*s.gtes - 1) / (s.grain * s.gtes)
	read := func(off int64) ([]uint32, error) {
		raw := make([]byte, n*4)
		if _, err := f.ReadAt(raw, off); err != nil {
			return nil, fmt.Errorf("%s: grain directory at %d: %w", local, off, err)
		}
		out := make([]uint32, n)
		for i := range out {
			out[i] = le.Uint32(raw[i*4:])
		}
		return out, nil
	}
	if s.gd, err = read(s.gdOff); err != nil {
		f.Close()
		return nil, err
	}
	if s.rgdOff != 0 {
		if s.rgd, err = read(s.rgdOff); err != nil {
			f.Close()
			return nil, err
		}
	}
	s.gt = make([][]uint32, n)
	raw := make([]byte, s.gtes*4)
	for i, sec := range s.gd {
		if sec == 0 {
			continue
		}
		if _, err := f.ReadAt(raw, int64(sec)*512); err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: grain table %d: %w", local, i, err)
		}
		t := make([]uint32, s.gtes)
		for j := range t {
			t[j] = le.Uint32(raw[j*4:])
		}
		s.gt[i] = t
	}
	return s, nil
}

func (s *sparseLayer) path() string { return s.local }

func (s *sparseLayer) cid() uint32 {
	if s.descOff == 0 || s.descSize == 0 {
		return 0xffffffff
	}
	b := make([]byte, s.descSize)
	if _, err := s.f.ReadAt(b, s.descOff); err != nil {
		return 0xffffffff
	}
	return descriptorCID(b)
}

var cidRE = regexp.MustCompile(`(?m)^\s*CID\s*=\s*([0-9a-fA-F]{1,8})`)

func descriptorCID(text []byte) uint32 {
	m := cidRE.FindSubmatch(text)
	if m == nil {
		return 0xffffffff
	}
	v, _ := strconv.ParseUint(string(m[1]), 16, 32)
	return uint32(v)
}

func (s *sparseLayer) entry(g int64) uint32 {
	t := s.gt[g/s.gtes]
	if t == nil {
		return 0
	}
	return t[g%s.gtes]
}

func (s *sparseLayer) holds(gte uint32) bool {
	return gte > 1 || (gte == 1 && s.flags&sparseFlagZGT == 0)
}

func (s *sparseLayer) lookup(off int64) (int64, int64, bool, error) {
	if off < 0 || off >= s.capacity {
		return 0, 0, false, fmt.Errorf("%s: offset %d outside the disk (%d bytes)", s.local, off, s.capacity)
	}
	g := off / s.grain
	run := s.grain - off%s.grain
	gte := s.entry(g)
	if !s.holds(gte) {
		return 0, run, false, nil
	}
	return int64(gte)*512 + off%s.grain, run, true, nil
}

func (s *sparseLayer) readAt(p []byte, fileOff int64) error {
	_, err := s.f.ReadAt(p, fileOff)
	if err != nil {
		return fmt.Errorf("%s: read at %d: %w", s.local, fileOff, err)
	}
	return nil
}

func (s *sparseLayer) write(p []byte, off int64, below func([]byte, int64) error) error {
	g := off / s.grain
	within := off % s.grain
	if within+int64(len(p)) > s.grain {
		return fmt.Errorf("%s: write of %d bytes at %d crosses a grain", s.local, len(p), off)
	}
	if gte := s.entry(g); s.holds(gte) {
		if _, err := s.f.WriteAt(p, int64(gte)*512+within); err != nil {
			return fmt.Errorf("%s: %w", s.local, err)
		}
		return nil
	}
	buf := p
	if int64(len(p)) != s.grain {
		buf = make([]byte, s.grain)
		if below != nil {
			if err := below(buf, g*s.grain); err != nil {
				return err
			}
		}
		copy(buf[within:], p)
	}
	at := s.end
	if _, err := s.f.WriteAt(buf, at); err != nil {
		return fmt.Errorf("%s: %w", s.local, err)
	}
	s.end += s.grain
	return s.setEntry(g, uint32(at/512))
}

// setEntry points grain g at sector sec, allocating its grain table when
// the directory has none, in both directories.
func (s *sparseLayer) setEntry(g int64, sec uint32) error {
	t := g / s.gtes
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], sec)
	for i, dir := range [][]uint32{s.gd, s.rgd} {
		if dir == nil {
			continue
		}
		if dir[t] == 0 {
			tsec := uint32(s.end / 512)
			size := (s.gtes*4 + 511) &^ 511
			if _, err := s.f.WriteAt(make([]byte, size), s.end); err != nil {
				return fmt.Errorf("%s: %w", s.local, err)
			}
			s.end += size
			dir[t] = tsec
			dirOff := s.gdOff
			if i == 1 {
				dirOff = s.rgdOff
			}
			var d [4]byte
			binary.LittleEndian.PutUint32(d[:], tsec)
			if _, err := s.f.WriteAt(d[:], dirOff+4*t); err != nil {
				return fmt.Errorf("%s: %w", s.local, err)
			}
		}
		if _, err := s.f.WriteAt(b[:], int64(dir[t])*512+4*(g%s.gtes)); err != nil {
			return fmt.Errorf("%s: %w", s.local, err)
		}
	}
	if s.gt[t] == nil {
		s.gt[t] = make([]uint32, s.gtes)
	}
	s.gt[t][g%s.gtes] = sec
	return nil
}

func (s *sparseLayer) allocated(f func(off, n int64)) error {
	for t, tab := range s.gt {
		for i, gte := range tab {
			if s.holds(gte) {
				off := (int64(t)*s.gtes + int64(i)) * s.grain
				f(off, min(s.grain, s.capacity-off))
			}
		}
	}
	return nil
}

// setParent rewrites the embedded descriptor's parent (a delta's parent
// changed when the snapshot between them was removed).
func (s *sparseLayer) setParent(hint string, parentCID uint32) error {
	b := make([]byte, s.descSize)
	if _, err := s.f.ReadAt(b, s.descOff); err != nil {
		return fmt.Errorf("%s: descriptor: %w", s.local, err)
	}
	text := string(bytes.TrimRight(b, "\x00"))
	text = regexp.MustCompile(`(?m)^parentCID=.*$`).ReplaceAllString(text, fmt.Sprintf("parentCID=%08x", parentCID))
	text = regexp.MustCompile(`(?m)^parentFileNameHint=.*$`).ReplaceAllString(text, fmt.Sprintf("parentFileNameHint=%q", hint))
	out := make([]byte, s.descSize)
	copy(out, text)
	if _, err := s.f.WriteAt(out, s.descOff); err != nil {
		return fmt.Errorf("%s: descriptor: %w", s.local, err)
	}
	return nil
}

func (s *sparseLayer) close() error { return s.f.Close() }

// createDelta writes an empty hosted sparse delta (what VMware Workstation
// and qemu-img create -b make: monolithicSparse with parentFileNameHint)
// of the given capacity at local, laid out as qemu-img lays out a
// monolithicSparse file: header, descriptor, redundant directory and
// tables, directory and tables, then the grains.
func createDelta(local string, capacity int64, parentHint string, parentCID uint32) (*sparseLayer, error) {
	const gtSectors = deltaGTEs * 4 / 512
	sectors := (capacity + 511) / 512
	gtCount := (sectors + deltaGrain/512*deltaGTEs - 1) / (deltaGrain / 512 * deltaGTEs)
	gdSectors := (gtCount*4 + 511) / 512
	rgd := int64(1 + descSectors)
	gd := rgd + gdSectors + gtCount*gtSectors
	overhead := gd + gdSectors + gtCount*gtSectors
	overhead = (overhead + deltaGrain/512 - 1) &^ (deltaGrain/512 - 1)

	var cidb [4]byte
	if _, err := rand.Read(cidb[:]); err != nil {
		return nil, err
	}
	cid := binary.LittleEndian.Uint32(cidb[:]) &^ 1 // never ffffffff
	desc := fmt.Sprintf(`# Disk DescriptorFile
version=1
encoding="UTF-8"
CID=%08x
parentCID=%08x
createType="monolithicSparse"
parentFileNameHint=%q

# Extent description
RW %d SPARSE %q

# The Disk Data Base
#DDB

ddb.virtualHWVersion = "19"
`, cid, parentCID, parentHint, sectors, filepath.Base(local))

	buf := make([]byte, overhead*512)
	le := binary.LittleEndian
	le.PutUint32(buf[0:], kdmvMagic)
	le.PutUint32(buf[4:], 1)
	le.PutUint32(buf[8:], sparseFlagNL|sparseFlagRGD)
	le.PutUint64(buf[12:], uint64(sectors))
	le.PutUint64(buf[20:], deltaGrain/512)
	le.PutUint64(buf[28:], 1)
	le.PutUint64(buf[36:], descSectors)
	le.PutUint32(buf[44:], deltaGTEs)
	le.PutUint64(buf[48:], uint64(rgd))
	le.PutUint64(buf[56:], uint64(gd))
	le.PutUint64(buf[64:], uint64(overhead))
	copy(buf[73:77], "\n \r\n")
	copy(buf[512:512+descSectors*512], desc)
	for i := int64(0); i < gtCount; i++ {
		le.PutUint32(buf[rgd*512+4*i:], uint32(rgd+gdSectors+i*gtSectors))
		le.PutUint32(buf[gd*512+4*i:], uint32(gd+gdSectors+i*gtSectors))
	}
	f, err := os.OpenFile(local, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	if _, err := f.WriteAt(buf, 0); err != nil {
		f.Close()
		os.Remove(local)
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	s, err := openSparseLayer(f, local)
	if err != nil {
		os.Remove(local)
	}
	return s, err
}

// flatLayer is a descriptor naming one FLAT or VMFS extent.
type flatLayer struct {
	local    string
	f        *os.File // the extent
	capacity int64
	cidv     uint32
}

var extentRE = regexp.MustCompile(`(?m)^\s*(RW|RDONLY)\s+(\d+)\s+(FLAT|VMFS)\s+"([^"]+)"(?:\s+(\d+))?\s*$`)

func openFlatLayer(local string, rw bool) (*flatLayer, error) {
	text, err := os.ReadFile(local)
	if err != nil {
		return nil, err
	}
	ms := extentRE.FindAllSubmatch(text, -1)
	if len(ms) != 1 || (len(ms[0][5]) > 0 && string(ms[0][5]) != "0") {
		return nil, fmt.Errorf("%s: not a descriptor with one flat extent; the CBT double reads hosted sparse files and single flat extents", local)
	}
	sectors, _ := strconv.ParseInt(string(ms[0][2]), 10, 64)
	name := string(ms[0][4])
	if strings.Contains(name, "/") {
		return nil, fmt.Errorf("%s: extent %q is not in the descriptor's folder", local, name)
	}
	mode := os.O_RDONLY
	if rw {
		mode = os.O_RDWR
	}
	f, err := os.OpenFile(filepath.Join(filepath.Dir(local), name), mode, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: extent: %w", local, err)
	}
	return &flatLayer{local: local, f: f, capacity: sectors * 512, cidv: descriptorCID(text)}, nil
}

func (l *flatLayer) path() string { return l.local }
func (l *flatLayer) cid() uint32  { return l.cidv }

func (l *flatLayer) lookup(off int64) (int64, int64, bool, error) {
	if off < 0 || off >= l.capacity {
		return 0, 0, false, fmt.Errorf("%s: offset %d outside the disk (%d bytes)", l.local, off, l.capacity)
	}
	return off, l.capacity - off, true, nil
}

func (l *flatLayer) readAt(p []byte, fileOff int64) error {
	n, err := l.f.ReadAt(p, fileOff)
	if errors.Is(err, io.EOF) { // a short extent reads as zeros
		clear(p[n:])
		err = nil
	}
	if err != nil {
		return fmt.Errorf("%s: read at %d: %w", l.f.Name(), fileOff, err)
	}
	return nil
}

func (l *flatLayer) write(p []byte, off int64, _ func([]byte, int64) error) error {
	if off+int64(len(p)) > l.capacity {
		return fmt.Errorf("%s: write past the end of the disk", l.local)
	}
	if _, err := l.f.WriteAt(p, off); err != nil {
		return fmt.Errorf("%s: %w", l.f.Name(), err)
	}
	return nil
}

// allocated reports the extent's data regions (a thin disk's allocated
// blocks), found with SEEK_DATA and SEEK_HOLE.
func (l *flatLayer) allocated(f func(off, n int64)) error {
	const seekData, seekHole = 3, 4
	fd := int(l.f.Fd())
	for off := int64(0); off < l.capacity; {
		d, err := syscall.Seek(fd, off, seekData)
		if err != nil {
			if errors.Is(err, syscall.ENXIO) {
				return nil
			}
			return fmt.Errorf("%s: SEEK_DATA: %w", l.f.Name(), err)
		}
		if d >= l.capacity {
			return nil
		}
		h, err := syscall.Seek(fd, d, seekHole)
		if err != nil {
			return fmt.Errorf("%s: SEEK_HOLE: %w", l.f.Name(), err)
		}
		h = min(h, l.capacity)
		f(d, h-d)
		off = h
	}
	return nil
}

func (l *flatLayer) close() error { return l.f.Close() }

// ownCopy gives local its own inode when it is hard-linked (the test guest
// is linked into every VM's folder), so writes change this disk only. For a
// flat disk the extent is the file that is written.
func ownCopy(local string) error {
	target := local
	if text, err := os.ReadFile(local); err == nil && len(text) < 64<<10 {
		if m := extentRE.FindSubmatch(text); m != nil {
			target = filepath.Join(filepath.Dir(local), string(m[4]))
		}
	}
	st, err := os.Stat(target)
	if err != nil {
		return err
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok || sys.Nlink <= 1 {
		return nil
	}
	tmp := target + ".own"
	if err := diskimg.CopyFile(tmp, target); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("copy %s before writing it: %w", target, err)
	}
	if err := os.Rename(tmp, target); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
