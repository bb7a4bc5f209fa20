package ovf

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/podvm-migrate/podvm-migrate/discover"
)

// Source discovers the VMs of .ovf and .ova files: paths are files, globs
// or directories (searched for *.ovf and *.ova).
type Source struct {
	Paths   []string
	Options Options
}

var _ discover.Source = (*Source)(nil)

// String names the files searched.
func (s *Source) String() string { return "ovf:" + strings.Join(s.Paths, ",") }

// Discover reads every descriptor and archive. A file that cannot be
// read at all (not XML, not an envelope, a refused archive member) does
// not stop the others: the VMs of the rest come back with a
// *discover.UnreadableFiles naming it.
func (s *Source) Discover(ctx context.Context, opts discover.Options) ([]discover.VM, error) {
	files, err := discover.ExpandPaths(s.Paths, ".ovf", ".ova")
	if err != nil {
		return nil, fmt.Errorf("ovf: %w", err)
	}
	var vms []discover.VM
	unreadable := &discover.UnreadableFiles{}
	for i, f := range files {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var found []discover.VM
		if strings.EqualFold(filepath.Ext(f), ".ova") {
			found, err = ReadOVA(f, s.Options)
		} else {
			found, err = ReadOVF(f, s.Options)
		}
		if err != nil {
			unreadable.Add(f, err)
			continue
		}
		for _, vm := range found {
			if opts.Filter.Match(&vm) {
				vms = append(vms, vm)
			}
		}
		if opts.Progress != nil {
			opts.Progress(i+1, len(files))
		}
	}
	return vms, unreadable.Err()
}

// ReadOVF reads an .ovf descriptor; the disk files it references must be
// next to it (or below), and are reported by absolute path. It fails only
// when the descriptor cannot be read at all; a missing disk file is a
// warning of the VMs that use it.
func ReadOVF(p string, o Options) ([]discover.VM, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return nil, fmt.Errorf("ovf: %s: %w", p, err)
	}
	f, err := os.Open(abs)
	if err != nil {
		return nil, fmt.Errorf("ovf: %w", err)
	}
	defer f.Close()
	env, err := ParseEnvelope(abs, f)
	if err != nil {
		return nil, fmt.Errorf("ovf: %w", err)
	}
	dir := filepath.Dir(abs)
	exists := func(name string) bool {
		st, err := os.Stat(filepath.Join(dir, filepath.FromSlash(name)))
		return err == nil && st.Mode().IsRegular()
	}
	resolve := func(f File) (string, []string, error) {
		if isURL(f.Href) {
			return f.Href, nil, nil
		}
		name, chunks, err := locate(f, exists)
		if err != nil {
			return "", nil, err
		}
		for i := range chunks {
			chunks[i] = filepath.Join(dir, filepath.FromSlash(chunks[i]))
		}
		return filepath.Join(dir, filepath.FromSlash(name)), chunks, nil
	}
	vms, err := ToVMs(abs, env, discover.SourceRef{Kind: discover.SourceOVF, Path: abs}, resolve, o)
	if err != nil {
		return nil, fmt.Errorf("ovf: %w", err)
	}
	return vms, nil
}

// ReadOVA reads an .ova archive: its .ovf member (the first, by the
// standard) and the list of members, which must all stay inside the
// archive: absolute names, ".." and links are refused (the archive is
// then unreadable). Disks are reported by member name; a missing one is
// a warning of the VMs that use it.
func ReadOVA(p string, o Options) ([]discover.VM, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return nil, fmt.Errorf("ova: %s: %w", p, err)
	}
	f, err := os.Open(abs)
	if err != nil {
		return nil, fmt.Errorf("ova: %w", err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	members := map[string]bool{}
	var (
		env     *Envelope
		ovfName string
	)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("ova: %s: %w", abs, err)
		}
		name, err := safeMember(hdr.Name)
		if err != nil {
			return nil, fmt.Errorf("ova: %s: member %q: %w", abs, hdr.Name, err)
		}
		switch hdr.Typeflag {
		case tar.TypeReg, tar.TypeDir, tar.TypeXGlobalHeader, tar.TypeXHeader:
		default:
			return nil, fmt.Errorf("ova: %s: member %q: %s refused: only plain files may be in an OVA", abs, hdr.Name, typeName(hdr.Typeflag))
		}
		members[name] = true
		if env == nil && strings.EqualFold(path.Ext(name), ".ovf") {
			ovfName = name
			if env, err = ParseEnvelope(abs+"/"+name, tr); err != nil {
				return nil, fmt.Errorf("ova: %w", err)
			}
		}
	}
	if env == nil {
		return nil, fmt.Errorf("ova: %s: no .ovf descriptor in the archive", abs)
	}
	resolve := func(f File) (string, []string, error) {
		return locate(f, func(name string) bool { return members[name] })
	}
	vms, err := ToVMs(abs+"/"+ovfName, env, discover.SourceRef{Kind: discover.SourceOVA, Path: abs, Member: ovfName}, resolve, o)
	if err != nil {
		return nil, fmt.Errorf("ova: %w", err)
	}
	return vms, nil
}

// maxChunks bounds the parts of one chunked file (a 2 TiB disk in 1 MiB
// chunks).
const maxChunks = 1 << 21

// locate finds a References/File in the package: its cleaned name, and
// for a file with ovf:chunkSize its parts, name.000000000 onwards, as many
// as exist. exists says whether a cleaned member name is in the package.
// The error names the href and why it is not there.
func locate(f File, exists func(name string) bool) (string, []string, error) {
	name, err := safeMember(f.Href)
	if err != nil {
		return "", nil, fmt.Errorf("file %q: %w", f.Href, err)
	}
	if strings.TrimSpace(f.ChunkSize) == "" {
		if !exists(name) {
			return name, nil, fmt.Errorf("file %q: not found in the package", f.Href)
		}
		return name, nil, nil
	}
	var chunks []string
	for i := 0; i < maxChunks; i++ {
		c := fmt.Sprintf("%s.%09d", name, i)
		if !exists(c) {
			break
		}
		chunks = append(chunks, c)
	}
	if len(chunks) == 0 {
		return name, nil, fmt.Errorf("file %q: chunkSize %s but no part %s.000000000 in the package", f.Href, f.ChunkSize, name)
	}
	return name, chunks, nil
}

// safeMember cleans a member name or href and refuses one that would
// leave the package: absolute, with "..", or a Windows drive or UNC path.
func safeMember(name string) (string, error) {
	n := strings.ReplaceAll(name, "\\", "/")
	if n == "" || strings.HasPrefix(n, "/") || (len(n) > 1 && n[1] == ':') {
		return "", fmt.Errorf("absolute path refused")
	}
	for _, part := range strings.Split(n, "/") {
		if part == ".." {
			return "", fmt.Errorf("path escaping the package refused")
		}
	}
	return path.Clean(n), nil
}

func isURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https")
}

func typeName(t byte) string {
	switch t {
	case tar.TypeSymlink:
		return "symbolic link"
	case tar.TypeLink:
		return "hard link"
	case tar.TypeChar, tar.TypeBlock:
		return "device"
	case tar.TypeFifo:
		return "fifo"
	}
	return fmt.Sprintf("member type %q", t)
}
