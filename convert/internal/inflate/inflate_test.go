package inflate

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/zlib"
)

func TestInflate(t *testing.T) {
	data := []byte(strings.Repeat("podvm-migrate grain ", 3300))[:65536]
	var z, r bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(data)
	zw.Close()
	fw, _ := flate.NewWriter(&r, 6)
	fw.Write(data)
	fw.Close()
	corrupt := append([]byte(nil), z.Bytes()...)
	for i := 10; i < 40; i++ {
		corrupt[i] ^= 0xa5
	}
	var f Inflater
	cases := []struct {
		name    string
		fn      func(dst, src []byte) error
		src     []byte
		out     int
		wantErr error
	}{
		{"zlib", f.Zlib, z.Bytes(), len(data), nil},
		{"zlib with trailing bytes", f.Zlib, append(append([]byte(nil), z.Bytes()...), 1, 2, 3), len(data), nil},
		{"raw", f.Raw, r.Bytes(), len(data), nil},
		{"zlib too short a target", f.Zlib, z.Bytes(), len(data) - 1, ErrTooLong},
		{"zlib too long a target", f.Zlib, z.Bytes(), len(data) + 1, ErrCorrupt},
		{"zlib corrupt", f.Zlib, corrupt, len(data), ErrCorrupt},
		{"zlib truncated", f.Zlib, z.Bytes()[:z.Len()/2], len(data), ErrCorrupt},
		{"empty", f.Raw, nil, len(data), ErrCorrupt},
	}
	for _, c := range cases {
		dst := make([]byte, c.out)
		err := c.fn(dst, c.src)
		if c.wantErr == nil {
			if err != nil || !bytes.Equal(dst, data) {
				t.Errorf("%s (%s): %v", c.name, Backend, err)
			}
			continue
		}
		if !errors.Is(err, c.wantErr) && !(c.wantErr == ErrTooLong && errors.Is(err, ErrCorrupt)) {
			t.Errorf("%s (%s): error %v, want %v", c.name, Backend, err, c.wantErr)
		}
	}
}
