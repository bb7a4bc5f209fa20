package image

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/podvm-migrate/podvm-migrate/testenv/testguest"
)

// TestImageBuildCancelled cancels a build at each of its steps: it must
// return context.Canceled and leave neither an image nor its work folder.
func TestImageBuildCancelled(t *testing.T) {
	g := testGuest(t)
	cases := []struct {
		name string
		at   string // cancel when Build logs a line starting so; "" before it starts
	}{
		{"before the build", ""},
		{"while converting", "converting"},
		{"while packing the layer", "packing"},
		{"while writing the image out", "writing"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tmp := t.TempDir()
			layout := filepath.Join(tmp, "layout")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if c.at == "" {
				cancel()
			}
			logged := false
			o := BuildOptions{Disks: []string{filepath.Join(g, testguest.Raw)}, To: "oci:" + layout + ":v1", WorkDir: tmp,
				Log: func(format string, _ ...any) {
					if c.at != "" && strings.HasPrefix(format, c.at) {
						logged = true
						cancel()
					}
				}}
			_, err := Build(ctx, o)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("error %v, want context.Canceled", err)
			}
			if c.at != "" && !logged {
				t.Errorf("Build never logged %q", c.at)
			}
			checkNoOutput(t, tmp, layout)
		})
	}
}

// cancelAfter cancels once n bytes went through it.
type cancelAfter struct {
	n      int64
	cancel context.CancelFunc
	seen   int64
}

func (c *cancelAfter) count(n int) {
	if c.seen += int64(n); c.seen >= c.n {
		c.cancel()
	}
}

func (c *cancelAfter) Write(p []byte) (int, error) { c.count(len(p)); return len(p), nil }

// randomFile writes n random bytes, which gzip cannot shrink.
func randomFile(t *testing.T, path string, n int) {
	t.Helper()
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{1}).Read(b)
	writeFile(t, path, b)
}

// TestLayerCopyCancelled cancels writing and reading a layer in the middle
// of a file: the copy must stop within a few chunks, not at the end.
func TestLayerCopyCancelled(t *testing.T) {
	const size, after = 16 << 20, 1 << 20
	dir := t.TempDir()
	disk := filepath.Join(dir, "disk0.qcow2") // the layer does not look inside
	randomFile(t, disk, size)
	disks := []layerDisk{{name: "disk0", path: disk, virtualSize: size}}
	mtime := time.Unix(0, 0)

	t.Run("write", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		w := &cancelAfter{n: after, cancel: cancel}
		_, err := writeLayer(ctx, w, CompressGzip, disks, nil, mtime)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("error %v, want context.Canceled", err)
		}
		if w.seen > size/2 {
			t.Errorf("%d bytes written after a cancel at %d", w.seen, after)
		}
	})
	t.Run("extract", func(t *testing.T) {
		var layer bytes.Buffer
		res, err := writeLayer(context.Background(), &layer, CompressGzip, disks, nil, mtime)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		r := &cancelReader{r: &layer, c: cancelAfter{n: after, cancel: cancel}}
		out := t.TempDir()
		err = extractFiles(ctx, r, out, map[string]extractFile{res.disks[0].File: {dst: "disk0.qcow2", sha256: res.disks[0].SHA256}}, "")
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("error %v, want context.Canceled", err)
		}
		if r.c.seen > size/2 {
			t.Errorf("%d bytes read after a cancel at %d", r.c.seen, after)
		}
	})
}

// cancelReader cancels once c.n bytes were read through it.
type cancelReader struct {
	r io.Reader
	c cancelAfter
}

func (c *cancelReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.c.count(n)
	return n, err
}

// TestImageUnpackCancelled checks a cancelled Unpack leaves no folder.
func TestImageUnpackCancelled(t *testing.T) {
	g := testGuest(t)
	tmp := t.TempDir()
	ref := "oci:" + filepath.Join(tmp, "layout") + ":v1"
	if _, err := Build(context.Background(), BuildOptions{Disks: []string{filepath.Join(g, testguest.Raw)}, To: ref, WorkDir: tmp}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	un := filepath.Join(tmp, "unpacked")
	if _, err := Unpack(ctx, ref, un, RegistryOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	for _, p := range []string{un, un + ".partial"} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("the unpack left %s (%v)", p, err)
		}
	}
}
