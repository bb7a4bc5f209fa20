package discover

import (
	"errors"
	"fmt"
	"strings"
)

// UnreadableFiles is the error a Source returns, along with the VMs of
// every other file, when some files could not be read at all (no VM came
// from them). Collect keeps going past it.
type UnreadableFiles struct {
	Files []FileError
}

// FileError is one file discovery could not read.
type FileError struct {
	Path string // the file, as discovered
	Err  error  // why; its message names the file
}

// Error names every unreadable file, one a line.
func (u *UnreadableFiles) Error() string {
	lines := make([]string, 0, len(u.Files)+1)
	lines = append(lines, fmt.Sprintf("%d file(s) could not be read:", len(u.Files)))
	for _, f := range u.Files {
		msg := f.Err.Error()
		if !strings.Contains(msg, f.Path) {
			msg = f.Path + ": " + msg
		}
		lines = append(lines, "  "+msg)
	}
	return strings.Join(lines, "\n")
}

// Add records one unreadable file.
func (u *UnreadableFiles) Add(path string, err error) {
	u.Files = append(u.Files, FileError{Path: path, Err: err})
}

// Err returns u when it holds a file, nil otherwise, so a Source can end
// with `return vms, unreadable.Err()`.
func (u *UnreadableFiles) Err() error {
	if u == nil || len(u.Files) == 0 {
		return nil
	}
	return u
}

// AsUnreadable reports whether err is (or wraps) an UnreadableFiles.
func AsUnreadable(err error) (*UnreadableFiles, bool) {
	var u *UnreadableFiles
	ok := errors.As(err, &u)
	return u, ok
}
