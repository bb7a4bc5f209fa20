package vmx

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Descriptor is what discovery needs from a .vmdk: its size, format,
// parent and whether it maps a raw device.
type Descriptor struct {
	CapacityBytes int64
	CreateType    string // monolithicSparse, streamOptimized, vmfs, vmfsPassthroughRawDeviceMap, …
	ParentHint    string // parentFileNameHint, as written
	UUID          string // ddb.uuid
	Thin          bool   // sparse formats and ddb.thinProvisioned = 1
	Extents       []string
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

const maxDescriptor = 1 << 20

// ReadDescriptor reads the descriptor of a .vmdk: a text descriptor file,
// or the one embedded in a sparse (monolithicSparse, streamOptimized) file.
func ReadDescriptor(path string) (*Descriptor, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var h sparseHeader
	if err := binary.Read(f, binary.LittleEndian, &h); err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var text []byte
	sparse := string(h.Magic[:]) == "KDMV"
	if sparse {
		if h.DescSize == 0 || h.DescSize*512 > maxDescriptor {
			return &Descriptor{CapacityBytes: int64(h.Capacity) * 512, CreateType: "monolithicSparse", Thin: true}, nil
		}
		text = make([]byte, h.DescSize*512)
		if _, err := f.ReadAt(text, int64(h.DescOffset)*512); err != nil && err != io.EOF {
			return nil, fmt.Errorf("%s: embedded descriptor: %w", path, err)
		}
		if i := strings.IndexByte(string(text), 0); i >= 0 {
			text = text[:i]
		}
	} else {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		text, err = io.ReadAll(io.LimitReader(f, maxDescriptor+1))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if len(text) > maxDescriptor || !strings.Contains(string(text), "createType") {
			return nil, fmt.Errorf("%s: not a VMDK descriptor", path)
		}
	}
	d, err := parseDescriptor(path, text)
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
func parseDescriptor(path string, text []byte) (*Descriptor, error) {
	d := &Descriptor{}
	var kv []string
	for i, line := range strings.Split(string(text), "\n") {
		line = strings.TrimSpace(strings.TrimRight(line, "\r"))
		f := strings.Fields(line)
		if len(f) >= 3 && (f[0] == "RW" || f[0] == "RDONLY" || f[0] == "NOACCESS") {
			n, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: extent size %q: %w", path, i+1, f[1], err)
			}
			d.CapacityBytes += n * 512
			if q := strings.Index(line, `"`); q >= 0 {
				if e := strings.Index(line[q+1:], `"`); e >= 0 {
					d.Extents = append(d.Extents, line[q+1:q+1+e])
				}
			}
			continue
		}
		kv = append(kv, line)
	}
	dict, err := Parse(path, []byte(strings.Join(kv, "\n")))
	if err != nil {
		return nil, err
	}
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

// chain follows parentFileNameHint from the descriptor of path, returning
// the parent files nearest first. Loops and depth past 64 are errors.
func chain(path string, d *Descriptor) ([]string, error) {
	var out []string
	seen := map[string]bool{path: true}
	for d.ParentHint != "" {
		p := d.ParentHint
		if !filepath.IsAbs(p) {
			p = filepath.Join(filepath.Dir(path), p)
		}
		if seen[p] || len(out) > 64 {
			return nil, fmt.Errorf("%s: parent chain loops at %s", path, p)
		}
		seen[p] = true
		out = append(out, p)
		parent, err := ReadDescriptor(p)
		if err != nil {
			return nil, fmt.Errorf("parent of %s: %w", path, err)
		}
		path, d = p, parent
	}
	return out, nil
}
