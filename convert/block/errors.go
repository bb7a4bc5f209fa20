package block

import "fmt"

// FormatError is bad or unsupported content at a place in a file.
type FormatError struct {
	File   string
	Offset int64
	Msg    string
	Err    error
}

func (e *FormatError) Error() string {
	s := fmt.Sprintf("%s: offset %d: %s", e.File, e.Offset, e.Msg)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *FormatError) Unwrap() error { return e.Err }

// Errorf returns a FormatError for file at offset.
func Errorf(file string, offset int64, format string, args ...any) error {
	return &FormatError{File: file, Offset: offset, Msg: fmt.Sprintf(format, args...)}
}

// Wrap returns a FormatError for file at offset that wraps err.
func Wrap(file string, offset int64, err error, format string, args ...any) error {
	return &FormatError{File: file, Offset: offset, Msg: fmt.Sprintf(format, args...), Err: err}
}
