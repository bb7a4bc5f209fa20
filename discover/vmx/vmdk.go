package vmx

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Descriptor is what discovery needs from a .vmdk: its size, format,
// parent and whether it maps a raw device.
type Descriptor struct {
	CapacityBytes int64
	CreateType    string // monolithicSparse, streamOptimized, vmfs, vmfsPassthroughRawDeviceMap, fullDevice, …
	ParentHint    string // parentFileNameHint, as written
	UUID          string // ddb.uuid
	Thin          bool   // sparse formats and ddb.thinProvisioned = 1
	Extents       []string
	Warnings      []string // lines skipped, an unknown .encoding
}

// RawDevice reports whether the descriptor maps a host disk or partitions
// (createType fullDevice or partitionedDevice) rather than files.
func (d *Descriptor) RawDevice() bool {
	switch strings.ToLower(d.CreateType) {
	case "fulldevice", "partitioneddevice":
		return true
	}
	return false
}

// sparse extent header: "KDMV", version, flags, capacity (sectors), grain
// size, descriptor offset and size (sectors).
type sparseHeader struct {
	Magic      [4]byte
	Version    uint32
	Flags      uint32
	Capacity   uint64
	GrainSize  uint64
	DescOffset uint64
	DescSize   uint64
}

const (
	maxDescriptor = 1 << 20
	maxSectors    = 1 << 50 // 512 PiB: no disk is larger, and bytes fit an int64
)

// errNotRegular refuses device nodes, pipes and directories: a name in a
// configuration file never makes discovery open one.
var errNotRegular = errors.New("not a regular file (a device, pipe or directory): not opened")

// ReadDescriptor reads the descriptor of a .vmdk: a text descriptor file,
// or the one embedded in a sparse (monolithicSparse, streamOptimized)
// file. Only regular files are opened.
func ReadDescriptor(path string) (*Descriptor, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %w", path, errNotRegular)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err = f.Stat(); err != nil || !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %w", path, errNotRegular)
	}
	return readDescriptor(path, f, st.Size())
}

// readDescriptor reads a descriptor from r, size bytes long; name is used
// in errors.
func readDescriptor(name string, r io.ReaderAt, size int64) (*Descriptor, error) {
	var h sparseHeader
	head := make([]byte, binary.Size(h))
	n, err := r.ReadAt(head, 0)
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var text []byte
	sparse := n == len(head) && string(head[:4]) == "KDMV"
	if sparse {
		if err := binary.Read(bytes.NewReader(head), binary.LittleEndian, &h); err != nil {
			return nil, fmt.Errorf("%s: sparse header: %w", name, err)
		}
		if h.Capacity > maxSectors {
			return nil, fmt.Errorf("%s: sparse header: capacity %d sectors: too large", name, h.Capacity)
		}
		if h.DescSize == 0 || h.DescSize > maxDescriptor/512 || h.DescOffset > uint64(size)/512 {
			return &Descriptor{CapacityBytes: int64(h.Capacity) * 512, CreateType: "monolithicSparse", Thin: true}, nil
		}
		text = make([]byte, h.DescSize*512)
		m, err := r.ReadAt(text, int64(h.DescOffset)*512)
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("%s: embedded descriptor: %w", name, err)
		}
		text = text[:m]
		if i := bytes.IndexByte(text, 0); i >= 0 {
			text = text[:i]
		}
	} else {
		if size > maxDescriptor {
			return nil, fmt.Errorf("%s: %d bytes and no sparse header: not a VMDK descriptor", name, size)
		}
		text = make([]byte, size)
		m, err := r.ReadAt(text, 0)
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		text = text[:m]
		if !bytes.Contains(text, []byte("createType")) {
			return nil, fmt.Errorf("%s: not a VMDK descriptor (no createType)", name)
		}
	}
	d, err := parseDescriptor(name, text)
	if err != nil {
		return nil, err
	}
	if sparse {
		d.Thin = true
		if d.CapacityBytes == 0 {
			d.CapacityBytes = int64(h.Capacity) * 512
		}
	}
	return d, nil
}

// parseDescriptor reads the key = value lines and the extent lines
// ("RW 131072 SPARSE "file.vmdk" [offset]").
func parseDescriptor(name string, text []byte) (*Descriptor, error) {
	d := &Descriptor{}
	var kv []string
	for i, line := range strings.Split(string(text), "\n") {
		line = strings.TrimSpace(strings.TrimRight(line, "\r"))
		f := strings.Fields(line)
		if len(f) >= 3 && (f[0] == "RW" || f[0] == "RDONLY" || f[0] == "NOACCESS") {
			n, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil || n < 0 || n > maxSectors || d.CapacityBytes/512+n > maxSectors {
				return nil, fmt.Errorf("%s:%d: extent size %q: want a sector count up to %d", name, i+1, trunc(f[1]), int64(maxSectors))
			}
			d.CapacityBytes += n * 512
			if q := strings.Index(line, `"`); q >= 0 {
				if e := strings.Index(line[q+1:], `"`); e >= 0 {
					d.Extents = append(d.Extents, line[q+1:q+1+e])
				}
			}
			kv = append(kv, "") // keep line numbers
			continue
		}
		kv = append(kv, line)
	}
	dict, warns := Parse(name, []byte(strings.Join(kv, "\n")))
	d.Warnings = warns
	d.CreateType = dict.Get("createType")
	d.ParentHint = dict.Get("parentFileNameHint")
	d.UUID = dict.Get("ddb.uuid")
	switch strings.ToLower(d.CreateType) {
	case "monolithicsparse", "streamoptimized", "twogbmaxextentsparse", "vmfssparse", "sesparse":
		d.Thin = true
	}
	if dict.Get("ddb.thinProvisioned") == "1" {
		d.Thin = true
	}
	return d, nil
}
