// Package disksource parses the names users give disks to migrate or
// convert, once, into a typed Source:
//
//	[datastore] folder/disk.vmdk   a file on a vSphere datastore
//	vm:NAME/DISK                   a disk of a VM, read through an export lease
//	https://host/folder/disk.vmdk  a file served over http(s)
//	anything else                  a local file
//
// It uses the standard library only, so every layer can share it.
package disksource

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
)

// Kind says where a Source lives.
type Kind int

// The kinds of Source.
const (
	KindFile      Kind = iota + 1 // a local file
	KindDatastore                 // "[datastore] folder/disk.vmdk" on vSphere
	KindVM                        // "vm:NAME/DISK", a disk of a vSphere VM
	KindURL                       // an http(s) URL
)

// String names the kind, for messages.
func (k Kind) String() string {
	switch k {
	case KindFile:
		return "file"
	case KindDatastore:
		return "datastore path"
	case KindVM:
		return "VM disk"
	case KindURL:
		return "URL"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Source is one parsed disk source. Only the fields of its Kind are set.
type Source struct {
	Kind Kind
	// Datastore and Path: "[Datastore] Path", Path relative to the
	// datastore's root (no leading slash).
	Datastore, Path string
	// VM and Disk: "vm:VM/Disk". VM is a name or an inventory path
	// (folder/name); Disk a device key (2000), a file name or diskN.
	VM, Disk string
	// URL is an http or https URL.
	URL *url.URL
	// File is a local path, as given.
	File string
}

// File is the Source of the local file path, whatever its name looks like.
func File(path string) Source { return Source{Kind: KindFile, File: path} }

// Parse reads a disk source. Errors quote s and name the part that is wrong.
func Parse(s string) (Source, error) {
	switch {
	case s == "":
		return Source{}, fmt.Errorf("empty disk source: want a file, \"[datastore] folder/disk.vmdk\", vm:NAME/DISK or an http(s) URL")
	case strings.HasPrefix(s, "["):
		return parseDatastore(s)
	case strings.HasPrefix(s, "vm:"):
		return parseVM(s)
	}
	if scheme, ok := urlScheme(s); ok {
		return parseURL(s, scheme)
	}
	return File(s), nil
}

func parseDatastore(s string) (Source, error) {
	ds, rest, ok := strings.Cut(s[1:], "]")
	if !ok {
		return Source{}, fmt.Errorf("datastore path %q: no \"]\" closes the datastore name: want \"[datastore] folder/disk.vmdk\"", s)
	}
	if strings.TrimSpace(ds) == "" {
		return Source{}, fmt.Errorf("datastore path %q: empty datastore name: want \"[datastore] folder/disk.vmdk\"", s)
	}
	p := strings.TrimLeft(strings.TrimSpace(rest), "/")
	if p == "" {
		return Source{}, fmt.Errorf("datastore path %q: no file after [%s]: want \"[datastore] folder/disk.vmdk\"", s, ds)
	}
	return Source{Kind: KindDatastore, Datastore: ds, Path: p}, nil
}

func parseVM(s string) (Source, error) {
	rest := strings.TrimPrefix(s, "vm:")
	i := strings.LastIndex(rest, "/")
	if i <= 0 || i == len(rest)-1 {
		part := "the disk"
		if i == 0 || rest == "" {
			part = "the VM name"
		}
		return Source{}, fmt.Errorf("%s: %s is missing: want vm:NAME/DISK, DISK a device key (2000), a file name or diskN", s, part)
	}
	return Source{Kind: KindVM, VM: rest[:i], Disk: rest[i+1:]}, nil
}

// urlScheme returns the scheme of s when s starts like a URL, "scheme://";
// a single letter is a Windows drive, not a scheme.
func urlScheme(s string) (string, bool) {
	scheme, _, ok := strings.Cut(s, "://")
	if !ok || len(scheme) < 2 {
		return "", false
	}
	for i, c := range scheme {
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !letter && (i == 0 || !(c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return "", false
		}
	}
	return strings.ToLower(scheme), true
}

func parseURL(s, scheme string) (Source, error) {
	if scheme != "http" && scheme != "https" {
		return Source{}, fmt.Errorf("%s: scheme %q: want http or https (or a local file, \"[datastore] path\" or vm:NAME/DISK)", redact(s), scheme)
	}
	u, err := url.Parse(s)
	if err != nil {
		if ue, ok := err.(*url.Error); ok {
			err = ue.Err // url.Error repeats the whole URL, password included
		}
		return Source{}, fmt.Errorf("URL %s: %w", redact(s), err)
	}
	if u.Host == "" {
		return Source{}, fmt.Errorf("URL %s: no host", redact(s))
	}
	return Source{Kind: KindURL, URL: u}, nil
}

// redact hides a password in a URL that may not parse.
func redact(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	if i := strings.Index(s, "@"); i >= 0 {
		if j := strings.Index(s, "://"); j >= 0 && j < i {
			return s[:j+3] + "***" + s[i:]
		}
	}
	return s
}

// String writes the source back in the grammar Parse reads:
// Parse(s.String()) gives s again. A relative file whose name would read as
// another kind gets a "./" in front.
func (s Source) String() string {
	switch s.Kind {
	case KindDatastore:
		return "[" + s.Datastore + "] " + s.Path
	case KindVM:
		return "vm:" + s.VM + "/" + s.Disk
	case KindURL:
		if s.URL == nil {
			return ""
		}
		return s.URL.String()
	case KindFile:
		if s.File != "" && !filepath.IsAbs(s.File) {
			if p, err := Parse(s.File); err != nil || p.Kind != KindFile {
				return "." + string(filepath.Separator) + s.File
			}
		}
		return s.File
	}
	return ""
}

// Remote reports whether the source is on a server rather than a local file.
func (s Source) Remote() bool { return s.Kind != KindFile }

// NeedsVSphere reports whether only a vSphere session reaches the source: a
// datastore path or a VM's disk.
func (s Source) NeedsVSphere() bool { return s.Kind == KindDatastore || s.Kind == KindVM }
