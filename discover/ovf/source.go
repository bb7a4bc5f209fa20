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
	Paths []string
}

var _ discover.Source = (*Source)(nil)

// String names the files searched.
func (s *Source) String() string { return "ovf:" + strings.Join(s.Paths, ",") }

// Discover reads every descriptor and archive.
func (s *Source) Discover(ctx context.Context, opts discover.Options) ([]discover.VM, error) {
	files, err := discover.ExpandPaths(s.Paths, ".ovf", ".ova")
	if err != nil {
		return nil, fmt.Errorf("ovf: %w", err)
	}
	var vms []discover.VM
	for i, f := range files {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var found []discover.VM
		if strings.EqualFold(filepath.Ext(f), ".ova") {
			found, err = ReadOVA(f)
		} else {
			found, err = ReadOVF(f)
		}
		if err != nil {
			return nil, err
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
	return vms, nil
}

// ReadOVF reads an .ovf descriptor; the disk files it references must be
// next to it (or below), and are reported by absolute path.
func ReadOVF(p string) ([]discover.VM, error) {
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
	resolve := func(href string) (string, error) {
		if isURL(href) {
			return href, nil
		}
		name, err := safeMember(href)
		if err != nil {
			return "", fmt.Errorf("file %q: %w", href, err)
		}
		fp := filepath.Join(dir, filepath.FromSlash(name))
		if _, err := os.Stat(fp); err != nil {
			return "", fmt.Errorf("file %q: %w", href, err)
		}
		return fp, nil
	}
	vms, err := ToVMs(abs, env, discover.SourceRef{Kind: discover.SourceOVF, Path: abs}, resolve)
	if err != nil {
		return nil, fmt.Errorf("ovf: %w", err)
	}
	return vms, nil
}

// ReadOVA reads an .ova archive: its .ovf member (the first, by the
// standard) and the list of members, which must all stay inside the
// archive: absolute names, ".." and links are refused. Disks are reported
// by member name.
func ReadOVA(p string) ([]discover.VM, error) {
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
	resolve := func(href string) (string, error) {
		name, err := safeMember(href)
		if err != nil {
			return "", fmt.Errorf("file %q: %w", href, err)
		}
		if !members[name] {
			return "", fmt.Errorf("file %q: not in the archive", href)
		}
		return name, nil
	}
	vms, err := ToVMs(abs+"/"+ovfName, env, discover.SourceRef{Kind: discover.SourceOVA, Path: abs, Member: ovfName}, resolve)
	if err != nil {
		return nil, fmt.Errorf("ova: %w", err)
	}
	return vms, nil
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
