package convert

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/podvm-migrate/podvm-migrate/convert/block"
	"github.com/podvm-migrate/podvm-migrate/convert/qcow2"
	"github.com/podvm-migrate/podvm-migrate/convert/raw"
	"github.com/podvm-migrate/podvm-migrate/convert/vmdk"
)

// Source formats Open knows.
const (
	FormatVMDK  = "vmdk"
	FormatQCOW2 = "qcow2"
	FormatRaw   = "raw"
)

// maxBacking bounds a qcow2 backing chain.
const maxBacking = 64

// Detect names the format of the disk image at path from its first bytes.
func Detect(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	head := make([]byte, 512)
	n, _ := f.ReadAt(head, 0)
	return detect(head[:n], path), nil
}

// detect names a format from an image's first bytes and its name.
func detect(head []byte, name string) string {
	n := len(head)
	switch {
	case n >= 4 && binary.BigEndian.Uint32(head) == 0x514649fb:
		return FormatQCOW2
	case n >= 262 && string(head[257:262]) == "ustar" && strings.EqualFold(path.Ext(name), ".ova"):
		return FormatOVA
	case n >= 4 && (string(head[:4]) == "KDMV" || string(head[:4]) == "COWD"):
		return FormatVMDK
	case n >= 8 && binary.LittleEndian.Uint64(head) == 0xcafebabe: // an SEsparse extent
		return FormatVMDK
	case bytes.Contains(bytes.ToLower(head), []byte("disk descriptorfile")):
		return FormatVMDK
	case strings.EqualFold(path.Ext(name), ".vmdk") && isText(head):
		return FormatVMDK
	}
	return FormatRaw
}

func isText(b []byte) bool {
	for _, c := range b {
		if c == 0 {
			break
		}
		if c < 9 || (c > 13 && c < 32) || c > 126 {
			return false
		}
	}
	return len(b) > 0
}

// PathPolicy says which local files the VMDK descriptors of a source may
// name besides those in their own folder (or OVA): see vmdk.Policy.
type PathPolicy = vmdk.Policy

// Open opens a disk image for reading: format "" detects it. VMDK snapshot
// chains and qcow2 backing files are followed down to the base; the files
// a VMDK descriptor names are confined by p.
func Open(path, format string, p PathPolicy) (block.Image, error) {
	if format == "" {
		var err error
		if format, err = Detect(path); err != nil {
			return nil, err
		}
	}
	switch format {
	case FormatVMDK:
		return vmdk.Open(path, p)
	case FormatRaw:
		return raw.Open(path)
	case FormatQCOW2:
		return openQCOW2(path, 0, p)
	case FormatOVA:
		return openOVA(path, p)
	}
	return nil, fmt.Errorf("%s: unknown source format %q: want vmdk, qcow2, raw or ova", path, format)
}

func openQCOW2(path string, depth int, p PathPolicy) (block.Image, error) {
	if depth > maxBacking {
		return nil, fmt.Errorf("%s: backing chain deeper than %d images (a loop?)", path, maxBacking)
	}
	img, err := qcow2.Open(path)
	if err != nil {
		return nil, err
	}
	if img.BackingFile == "" {
		return img, nil
	}
	bpath := img.BackingFile
	if !filepath.IsAbs(bpath) {
		bpath = filepath.Join(filepath.Dir(path), bpath)
	}
	var base block.Image
	switch img.BackingFormat {
	case "", FormatQCOW2:
		if f, _ := Detect(bpath); f == FormatQCOW2 {
			base, err = openQCOW2(bpath, depth+1, p)
		} else {
			base, err = Open(bpath, "", p)
		}
	default:
		base, err = Open(bpath, img.BackingFormat, p)
	}
	if err != nil {
		img.Close()
		return nil, fmt.Errorf("backing file of %s: %w", path, err)
	}
	return &block.Overlay{Top: img, Base: base}, nil
}
