// Package vmdk reads VMware virtual disks: descriptor files, hosted sparse
// extents (monolithicSparse, twoGbMaxExtentSparse, streamOptimized), flat
// extents (monolithicFlat, twoGbMaxExtentFlat, vmfs, vmfsThin), the sparse
// extents of ESX snapshot deltas (vmfsSparse, SEsparse), multi-extent disks
// and snapshot delta chains.
package vmdk

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/podvm-migrate/podvm-migrate/convert/block"
)

// Extent types a descriptor can name.
const (
	ExtentFlat       = "FLAT"
	ExtentSparse     = "SPARSE"
	ExtentZero       = "ZERO"
	ExtentVMFS       = "VMFS"
	ExtentVMFSSparse = "VMFSSPARSE"
	ExtentVMFSRDM    = "VMFSRDM"
	ExtentVMFSRaw    = "VMFSRAW"
	ExtentSESparse   = "SESPARSE"
)

// noParent is the parentCID of a disk without a parent.
const noParent = 0xffffffff

// Descriptor is a parsed VMDK text descriptor.
type Descriptor struct {
	Version            int
	CID                uint32
	ParentCID          uint32
	CreateType         string
	ParentFileNameHint string
	ParentLine         int // 1-based line of parentFileNameHint in the descriptor text
	Extents            []ExtentDesc
	DDB                map[string]string
}

// ExtentDesc is one extent line: `RW 4192256 FLAT "disk-flat.vmdk" 0`.
type ExtentDesc struct {
	Access  string // RW, RDONLY or NOACCESS
	Sectors int64  // guest sectors of 512 bytes
	Type    string // FLAT, SPARSE, ZERO, VMFS, ...
	File    string // empty for ZERO
	Offset  int64  // first sector in File (flat extents)
	Line    int64  // byte offset of the extent line in the descriptor's file
	LineNo  int    // 1-based line number of the extent line in the descriptor text
}

// Sectors is the disk's size in 512-byte sectors: the sum of its extents.
func (d *Descriptor) Sectors() int64 {
	var n int64
	for _, e := range d.Extents {
		n += e.Sectors
	}
	return n
}

// maxDescriptor bounds a descriptor's size; real ones are a few KiB.
const maxDescriptor = 1 << 20

// ParseDescriptor parses descriptor text read from file at byte offset base;
// errors name the file and the offset of the bad line.
func ParseDescriptor(file string, base int64, text []byte) (*Descriptor, error) {
	if i := bytes.IndexByte(text, 0); i >= 0 {
		text = text[:i]
	}
	if len(text) > maxDescriptor {
		return nil, block.Errorf(file, base, "descriptor of %d bytes is too large", len(text))
	}
	d := &Descriptor{ParentCID: noParent, DDB: map[string]string{}}
	off := base
	seenHeader := false
	lineNo := 0
	for len(text) > 0 {
		lineNo++
		line := text
		next := len(text)
		if i := bytes.IndexByte(text, '\n'); i >= 0 {
			line, next = text[:i], i+1
		}
		lineOff := off
		text = text[next:]
		off += int64(next)
		s := strings.TrimSpace(strings.TrimSuffix(string(line), "\r"))
		if s == "" {
			continue
		}
		if strings.HasPrefix(s, "#") {
			if strings.Contains(strings.ToLower(s), "disk descriptorfile") {
				seenHeader = true
			}
			continue
		}
		if err := d.parseLine(s, lineOff, lineNo); err != nil {
			return nil, block.Wrap(file, lineOff, err, "descriptor line %q", truncate(s, 80))
		}
		seenHeader = true
	}
	if !seenHeader {
		return nil, block.Errorf(file, base, "not a VMDK descriptor")
	}
	if len(d.Extents) == 0 {
		return nil, block.Errorf(file, base, "descriptor names no extents")
	}
	return d, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

func (d *Descriptor) parseLine(s string, off int64, lineNo int) error {
	word, _, _ := strings.Cut(s, " ")
	switch word {
	case "RW", "RDONLY", "NOACCESS":
		e, err := parseExtent(s)
		if err != nil {
			return err
		}
		e.Line, e.LineNo = off, lineNo
		d.Extents = append(d.Extents, e)
		return nil
	}
	key, val, ok := strings.Cut(s, "=")
	if !ok {
		return errorString("want key=value or an extent line")
	}
	key = strings.TrimSpace(key)
	val = unquote(strings.TrimSpace(val))
	switch strings.ToLower(key) {
	case "version":
		v, err := strconv.Atoi(val)
		if err != nil {
			return errorString("bad version")
		}
		d.Version = v
	case "cid":
		v, err := strconv.ParseUint(val, 16, 32)
		if err != nil {
			return errorString("bad CID")
		}
		d.CID = uint32(v)
	case "parentcid":
		v, err := strconv.ParseUint(val, 16, 32)
		if err != nil {
			return errorString("bad parentCID")
		}
		d.ParentCID = uint32(v)
	case "createtype":
		d.CreateType = val
	case "parentfilenamehint":
		d.ParentFileNameHint, d.ParentLine = val, lineNo
	default:
		if strings.HasPrefix(key, "ddb.") {
			d.DDB[key] = val
		}
	}
	return nil
}

type errorString string

func (e errorString) Error() string { return string(e) }

func unquote(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}

// parseExtent parses `ACCESS SECTORS TYPE ["FILE" [OFFSET]]`.
func parseExtent(s string) (ExtentDesc, error) {
	var e ExtentDesc
	fields, err := splitQuoted(s)
	if err != nil {
		return e, err
	}
	if len(fields) < 3 {
		return e, errorString("extent line needs access, size and type")
	}
	e.Access = fields[0]
	n, err := strconv.ParseInt(fields[1], 10, 64)
	if err != nil || n <= 0 || n > 1<<50 {
		return e, errorString("bad extent size")
	}
	e.Sectors = n
	e.Type = strings.ToUpper(fields[2])
	switch e.Type {
	case ExtentZero:
		return e, nil
	case ExtentFlat, ExtentSparse, ExtentVMFS, ExtentVMFSSparse, ExtentVMFSRDM, ExtentVMFSRaw, ExtentSESparse:
	default:
		return e, errorString("unknown extent type " + fields[2])
	}
	if len(fields) < 4 || fields[3] == "" {
		return e, errorString("extent names no file")
	}
	e.File = fields[3]
	if len(fields) >= 5 {
		o, err := strconv.ParseInt(fields[4], 10, 64)
		if err != nil || o < 0 || o > 1<<50 {
			return e, errorString("bad extent offset")
		}
		e.Offset = o
	}
	return e, nil
}

// splitQuoted splits on spaces, keeping "quoted strings" whole.
func splitQuoted(s string) ([]string, error) {
	var out []string
	for {
		s = strings.TrimLeft(s, " \t")
		if s == "" {
			return out, nil
		}
		if s[0] == '"' {
			end := strings.IndexByte(s[1:], '"')
			if end < 0 {
				return nil, errorString("unterminated quote")
			}
			out = append(out, s[1:1+end])
			s = s[end+2:]
			continue
		}
		end := strings.IndexAny(s, " \t")
		if end < 0 {
			end = len(s)
		}
		out = append(out, s[:end])
		s = s[end:]
	}
}
