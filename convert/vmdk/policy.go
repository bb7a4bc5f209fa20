package vmdk

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/podvm-migrate/podvm-migrate/convert/block"
)

// Policy says which files the descriptors of a disk may name besides the
// ones in their own folder. An imported descriptor is data, not a
// command: without a Policy its extent files and parentFileNameHint are
// confined to the folder holding it (inside an OVA, to the OVA's members,
// over HTTP, to its folder on the same server), and device nodes, FIFOs
// and sockets are never opened from a descriptor, wherever they are.
type Policy struct {
	// AllowDirs are local directories (with everything below them) whose
	// files any descriptor may name too: --allow-path.
	AllowDirs []string
}

// RefusedError is a file a descriptor names that it may not read.
type RefusedError struct {
	Descriptor string // the file holding the descriptor
	Line       int    // 1-based line of the name in the descriptor text
	What       string // "extent file" or "parentFileNameHint"
	Name       string // as the descriptor writes it
	Path       string // where the name leads
	Reason     string // why, and what to do about it
	Err        error  // the cause, if any (block.ErrNotRegular for devices)
}

func (e *RefusedError) Error() string {
	at := fmt.Sprintf("%q", e.Name)
	if e.Path != "" && e.Path != e.Name {
		at += " (" + e.Path + ")"
	}
	return fmt.Sprintf("%s: line %d: %s %s refused: %s", e.Descriptor, e.Line, e.What, at, e.Reason)
}

func (e *RefusedError) Unwrap() error { return e.Err }

// neverDevice is why a RefusedError refuses a device, FIFO or socket.
const neverDevice = "only regular files are read from a descriptor, never device nodes, FIFOs or sockets"

// outside is why a RefusedError refuses a name outside what fl may read,
// and what to do about it. base, if set, is the file name of an absolute
// name that is not next to the descriptor either.
func (fl *files) outside(base string) string {
	s, tail := "outside the descriptor's folder", "; pass --allow-path DIR to allow it"
	switch {
	case fl.archive:
		s = "outside the OVA (not one of its files)"
	case fl.open != nil:
		s, tail = "outside the descriptor's folder on its server", "; a descriptor read over HTTP may only name files next to it"
	}
	if base != "" {
		s += ", and no " + base + " is next to the descriptor"
	}
	return s + tail
}

// files is where the descriptors of one disk find the files they name.
type files struct {
	// open reads slash-separated paths on a server or in an archive; nil
	// means local files.
	open    Opener
	policy  Policy
	archive bool // open reads an archive's members; policy may reach host files
}

// openTop opens the file the caller named, which no descriptor confines.
func (fl *files) openTop(p string) (*block.File, error) {
	if fl.open == nil {
		return block.OpenFile(p)
	}
	return fl.open(p)
}

// key names a file once however it is reached, to find loops in a chain.
func (fl *files) key(p string) string {
	if fl.open != nil {
		return path.Clean(p)
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return filepath.Clean(p)
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		return real
	}
	return abs
}

// openNamed opens the file that the descriptor in desc names at line
// (what: "extent file" or "parentFileNameHint"), and returns it with the
// path it was opened by. It is the one place where names read from a
// descriptor become files: everything outside the Policy is refused with
// a *RefusedError; a missing file is an error that is os.ErrNotExist.
//
// Relative names are read from the descriptor's folder. An absolute name
// (ESXi's /vmfs/volumes/DS/VM/FILE, a Windows host's C:\VMs\FILE) is read
// as it is when the Policy allows it and it is there, else as the same
// file name in the descriptor's folder when that is there.
func (fl *files) openNamed(desc string, line int, what, name string) (*block.File, string, error) {
	refuse := func(p, reason string, err error) error {
		return &RefusedError{Descriptor: desc, Line: line, What: what, Name: name, Path: p, Reason: reason, Err: err}
	}
	slashed, foreign := foreignName(name)
	if fl.open == nil {
		return fl.openLocal(desc, slashed, foreign, refuse)
	}
	dir := path.Dir(desc)
	abs := foreign || path.IsAbs(slashed)
	p := path.Join(dir, slashed)
	if abs {
		p = path.Clean(slashed)
	}
	if !foreign && p != dir && within(p, dir) {
		f, err := fl.open(p)
		return f, p, err
	}
	base := ""
	if abs {
		if b := path.Base(slashed); b != "/" && b != "." && b != ".." {
			q := path.Join(dir, b)
			f, err := fl.open(q)
			if err == nil || !errors.Is(err, os.ErrNotExist) {
				return f, q, err
			}
			base = b
		}
	}
	if fl.archive && abs && !foreign {
		if roots := fl.allowed(); len(roots) > 0 {
			return fl.openHost(filepath.Clean(slashed), roots, fl.outside(base), refuse)
		}
	}
	return nil, p, refuse(p, fl.outside(base), nil)
}

// openLocal is openNamed for local files.
func (fl *files) openLocal(desc, name string, foreign bool, refuse func(p, reason string, err error) error) (*block.File, string, error) {
	dir, err := filepath.Abs(filepath.Dir(desc))
	if err != nil {
		return nil, "", err
	}
	roots := append(fl.allowed(), rootsOf(dir)...)
	var p, base string
	switch {
	case foreign:
		p = filepath.Join(dir, filepath.Base(name))
	case filepath.IsAbs(name):
		p = filepath.Clean(name)
		if !exists(p) || !within(realPath(p), roots...) {
			if b := filepath.Base(p); b != "/" && exists(filepath.Join(dir, b)) {
				p = filepath.Join(dir, b)
			} else {
				base = b
			}
		}
	default:
		p = filepath.Join(dir, name)
	}
	return fl.openHost(p, roots, fl.outside(base), refuse)
}

// openHost opens the local regular file p if it lies (symlinks resolved)
// under one of roots.
func (fl *files) openHost(p string, roots []string, outside string, refuse func(p, reason string, err error) error) (*block.File, string, error) {
	real, err := filepath.EvalSymlinks(p)
	switch {
	case errors.Is(err, os.ErrNotExist):
		real = p
	case err != nil:
		return nil, p, err
	}
	if !within(real, roots...) {
		if real != p && within(p, roots...) {
			return nil, p, refuse(p, "a symlink to "+real+", "+outside, nil)
		}
		return nil, p, refuse(p, outside, nil)
	}
	f, err := block.OpenRegular(real)
	if errors.Is(err, block.ErrNotRegular) {
		var pe *os.PathError
		reason := "not a regular file; " + neverDevice
		if errors.As(err, &pe) {
			reason = strings.TrimPrefix(pe.Err.Error(), block.ErrNotRegular.Error()+": ") + "; " + neverDevice
		}
		return nil, p, refuse(p, reason, err)
	}
	return f, real, err
}

// allowed is the Policy's directories, each as given and with its
// symlinks resolved.
func (fl *files) allowed() []string {
	var roots []string
	for _, d := range fl.policy.AllowDirs {
		if abs, err := filepath.Abs(d); err == nil {
			roots = append(roots, rootsOf(abs)...)
		}
	}
	return roots
}

// rootsOf is an absolute directory as given and with symlinks resolved.
func rootsOf(dir string) []string {
	if real, err := filepath.EvalSymlinks(dir); err == nil && real != dir {
		return []string{dir, real}
	}
	return []string{dir}
}

// realPath is p with symlinks resolved, or p when that fails.
func realPath(p string) string {
	if real, err := filepath.EvalSymlinks(p); err == nil {
		return real
	}
	return p
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// within reports whether the clean path p is one of dirs or below one.
func within(p string, dirs ...string) bool {
	for _, d := range dirs {
		if p == d || d == "/" || strings.HasPrefix(p, d+"/") {
			return true
		}
	}
	return false
}

// foreignName returns name with a Windows host's backslashes made slashes,
// and whether it is a Windows absolute path (C:\…, \\server\…), which
// means nothing on this host but its file name.
func foreignName(name string) (string, bool) {
	win := strings.HasPrefix(name, `\\`) ||
		(len(name) >= 3 && name[1] == ':' && (name[2] == '\\' || name[2] == '/') &&
			('a' <= name[0]|0x20 && name[0]|0x20 <= 'z'))
	if win {
		return strings.ReplaceAll(name, `\`, "/"), true
	}
	return name, false
}
