package convert

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"sync"

	"github.com/podvm-migrate/podvm-migrate/convert/block"
	"github.com/podvm-migrate/podvm-migrate/convert/vmdk"
)

// FormatOVA is an OVA (a tar of an OVF and its disks) as a source: its
// first VMDK is read in place, without unpacking.
const FormatOVA = "ova"

// member is where a tar member's data lies in the archive.
type member struct{ off, size int64 }

// openOVA opens the first .vmdk member of the OVA at p, read through a
// window of the tar file (tar members are stored whole and contiguous).
// The files its descriptor names are other members next to it, or local
// files pol allows.
func openOVA(p string, pol PathPolicy) (block.Image, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	sf := &sharedFile{f: f, refs: 1}
	defer sf.Close()
	members, first, err := tarMembers(p, f)
	if err != nil {
		return nil, err
	}
	if first == "" {
		return nil, fmt.Errorf("%s: the OVA holds no .vmdk disk", p)
	}
	prefix := p + "/"
	open := func(name string) (*block.File, error) {
		m, ok := members[strings.TrimPrefix(name, prefix)]
		if !ok || !strings.HasPrefix(name, prefix) {
			return nil, fmt.Errorf("%s: %w", name, os.ErrNotExist)
		}
		return block.NewFile(name, io.NewSectionReader(f, m.off, m.size), m.size, sf.ref()), nil
	}
	return vmdk.OpenMember(prefix+first, open, pol)
}

// tarMembers lists the regular files of the tar f (at p) by clean relative
// name, and names the first .vmdk among them. Member data is skipped with
// seeks, not read.
func tarMembers(p string, f *os.File) (map[string]member, string, error) {
	members := map[string]member{}
	first := ""
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return members, first, nil
		}
		// Headers are read in 512-byte blocks and nothing is buffered: the
		// member's data starts where the file offset now is.
		off, serr := f.Seek(0, io.SeekCurrent)
		if err != nil || serr != nil {
			return nil, "", block.Wrap(p, off, errors.Join(err, serr), "OVA (tar)")
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		name := strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		if _, dup := members[name]; dup || name == "" {
			continue
		}
		members[name] = member{off: off, size: h.Size}
		if first == "" && strings.EqualFold(path.Ext(name), ".vmdk") {
			first = name
		}
	}
}

// sharedFile is an open file that several readers hold; it is closed when
// the last one lets go.
type sharedFile struct {
	mu   sync.Mutex
	f    *os.File
	refs int
}

// ref takes a reference; closing the returned Closer lets it go.
func (s *sharedFile) ref() io.Closer {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refs++
	var once sync.Once
	return closerFunc(func() error {
		var err error
		once.Do(func() { err = s.Close() })
		return err
	})
}

// Close lets one reference go.
func (s *sharedFile) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refs--
	if s.refs == 0 {
		return s.f.Close()
	}
	return nil
}

type closerFunc func() error

func (c closerFunc) Close() error { return c() }
