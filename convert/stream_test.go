package convert

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/podvm-migrate/podvm-migrate/convert/remote"
	"github.com/podvm-migrate/podvm-migrate/convert/vmdk"
	"github.com/podvm-migrate/podvm-migrate/internal/testtool"
)

// TestStreamOptimizedAsAStream reads streamOptimized VMDKs front to back,
// as an NFC export delivers them: through a pipe, and from an HTTPS server
// that ignores range requests.
func TestStreamOptimizedAsAStream(t *testing.T) {
	testtool.Require(t, "qemu-img")
	dir := t.TempDir()
	rawPath := filepath.Join(dir, "disk.raw")
	writeTestRaw(t, rawPath)
	want := sumsOf(t, rawPath)
	src := filepath.Join(dir, "stream.vmdk")
	testtool.Run(t, "qemu-img", "convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=streamOptimized", rawPath, src)
	ctx := context.Background()

	t.Run("pipe", func(t *testing.T) {
		f, err := os.Open(src)
		if err != nil {
			t.Fatal(err)
		}
		pr, pw := io.Pipe()
		go func() { _, err := io.Copy(pw, f); f.Close(); pw.CloseWithError(err) }()
		img, err := vmdk.OpenStream("pipe", pr, pr)
		if err != nil {
			t.Fatal(err)
		}
		defer img.Close()
		dst := filepath.Join(t.TempDir(), "out.qcow2")
		r, err := DiskFrom(ctx, img, "pipe", dst, DiskOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if r.SourceChecksum != want.tree {
			t.Errorf("checksum %s, want %s", r.SourceChecksum, want.tree)
		}
		qemuCompare(t, rawPath, dst)
	})
	t.Run("no ranges", func(t *testing.T) {
		srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			f, err := os.Open(filepath.Join(dir, filepath.Base(r.URL.Path)))
			if err != nil {
				http.NotFound(w, r)
				return
			}
			defer f.Close()
			io.Copy(w, f) // always 200, whole file: like an NFC disk URL
		}))
		defer srv.Close()
		u, _ := url.Parse(srv.URL + "/stream.vmdk")
		img, err := OpenURL(ctx, u, "", remote.Options{Client: srv.Client()})
		if err != nil {
			t.Fatal(err)
		}
		defer img.Close()
		dst := filepath.Join(t.TempDir(), "out.raw")
		if _, err := DiskFrom(ctx, img, u.String(), dst, DiskOptions{Format: FormatRaw, Verify: true}); err != nil {
			t.Fatal(err)
		}
		qemuCompare(t, rawPath, dst)
		// A monolithicSparse VMDK cannot be streamed: a clear error.
		testtool.Run(t, "qemu-img", "convert", "-f", "raw", "-O", "vmdk", rawPath, filepath.Join(dir, "sparse.vmdk"))
		u, _ = url.Parse(srv.URL + "/sparse.vmdk")
		if _, err := OpenURL(ctx, u, "", remote.Options{Client: srv.Client()}); err == nil {
			t.Error("streamed a monolithicSparse VMDK")
		} else {
			t.Log(err)
		}
	})
}
