package convert

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/podvm-migrate/podvm-migrate/convert/remote"
	"github.com/podvm-migrate/podvm-migrate/internal/testtool"
)

// flakyFiles serves dir with range requests, but cuts every third response
// off half-way, the way a dropped connection does.
func flakyFiles(dir string, served *atomic.Int64) http.Handler {
	files := http.FileServer(http.Dir(dir))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := served.Add(1)
		if n%3 != 0 || r.Header.Get("Range") == "" {
			files.ServeHTTP(w, r)
			return
		}
		f, err := os.Open(filepath.Join(dir, filepath.FromSlash(r.URL.Path)))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		defer f.Close()
		var start, end int64
		if _, err := fmt.Sscanf(r.Header.Get("Range"), "bytes=%d-%d", &start, &end); err != nil || end-start < 2 {
			files.ServeHTTP(w, r)
			return
		}
		st, _ := f.Stat()
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end, st.Size()))
		w.Header().Set("Content-Length", strconv.FormatInt(end-start+1, 10))
		w.WriteHeader(http.StatusPartialContent)
		buf := make([]byte, (end-start+1)/2)
		f.ReadAt(buf, start)
		w.Write(buf)
		panic(http.ErrAbortHandler) // close the connection mid-body
	})
}

func TestRemoteSourcesResumeOverTLS(t *testing.T) {
	testtool.Require(t, "qemu-img")
	dir := t.TempDir()
	rawPath := filepath.Join(dir, "disk.raw")
	writeTestRaw(t, rawPath)
	want := sumsOf(t, rawPath)
	for _, sub := range []string{"streamOptimized", "monolithicSparse", "twoGbMaxExtentFlat"} {
		testtool.Run(t, "qemu-img", "convert", "-f", "raw", "-O", "vmdk", "-o", "subformat="+sub, rawPath, filepath.Join(dir, sub+".vmdk"))
	}
	testtool.Run(t, "qemu-img", "convert", "-f", "raw", "-O", "qcow2", rawPath, filepath.Join(dir, "disk.qcow2"))
	var served atomic.Int64
	srv := httptest.NewTLSServer(flakyFiles(dir, &served))
	defer srv.Close()
	o := remote.Options{Client: srv.Client(), Retries: 3, Backoff: 1}
	ctx := context.Background()
	for _, name := range []string{"streamOptimized.vmdk", "monolithicSparse.vmdk", "twoGbMaxExtentFlat.vmdk", "disk.qcow2", "disk.raw"} {
		t.Run(name, func(t *testing.T) {
			u, _ := url.Parse(srv.URL + "/" + name + "?dcPath=DC0&dsName=ds1")
			img, err := OpenURL(ctx, u, "", o)
			if err != nil {
				t.Fatal(err)
			}
			defer img.Close()
			dst := filepath.Join(t.TempDir(), "out.qcow2")
			r, err := DiskFrom(ctx, img, u.String(), dst, DiskOptions{Verify: true})
			if err != nil {
				t.Fatal(err)
			}
			if r.SourceChecksum != want.tree {
				t.Errorf("checksum %s, want %s", r.SourceChecksum, want.tree)
			}
			qemuCompare(t, rawPath, dst)
		})
	}
	if served.Load() < 6 {
		t.Errorf("only %d requests: the flaky server never cut one off", served.Load())
	}

	// TLS is verified: a client that does not trust the test CA fails.
	u, _ := url.Parse(srv.URL + "/disk.raw")
	strict := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12}}}
	if _, err := OpenURL(ctx, u, "", remote.Options{Client: strict, Retries: 1, Backoff: 1}); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("untrusted server: %v", err)
	}
	// A missing extent (HTTP 404) is a clean error, not retried forever.
	if err := os.Remove(filepath.Join(dir, "twoGbMaxExtentFlat-f001.vmdk")); err != nil {
		t.Fatal(err)
	}
	u, _ = url.Parse(srv.URL + "/twoGbMaxExtentFlat.vmdk")
	if _, err := OpenURL(ctx, u, "", o); err == nil || !strings.Contains(err.Error(), `extent file "twoGbMaxExtentFlat-f001.vmdk" is missing`) {
		t.Errorf("missing remote extent: %v", err)
	}
}

// TestRemoteSparseGrainTablesReadInBatches converts a hosted sparse VMDK
// over HTTP the way a datastore path does for the runtime target: mapped
// ahead for a planned qcow2, then copied. Each of its grain tables covers
// 32 MiB; read one request at a time, and again by the copy, they would
// cost two round trips to the datastore per 32 MiB of disk.
func TestRemoteSparseGrainTablesReadInBatches(t *testing.T) {
	testtool.Require(t, "qemu-img")
	dir := t.TempDir()
	const size, tables = 4 << 30, 4 << 30 / (32 << 20)
	rawPath := filepath.Join(dir, "disk.raw")
	f, err := os.Create(rawPath)
	if err != nil {
		t.Fatal(err)
	}
	chunk := []byte(strings.Repeat("grain tables in batches ", 1<<15))
	for i := range int64(16) {
		if _, err := f.WriteAt(chunk, i*(size/16)+(1<<20)); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	src := filepath.Join(dir, "disk.vmdk")
	testtool.Run(t, "qemu-img", "convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=monolithicSparse", rawPath, src)

	var requests atomic.Int64
	files := http.FileServer(http.Dir(dir))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		files.ServeHTTP(w, r)
	}))
	defer srv.Close()
	ctx := context.Background()
	u, _ := url.Parse(srv.URL + "/disk.vmdk")
	img, err := OpenURL(ctx, u, "", remote.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	rec := newTeeRecord()
	dst := filepath.Join(dir, "out.qcow2")
	if _, err := DiskFrom(ctx, img, u.String(), dst, DiskOptions{Tee: rec.tee}); err != nil {
		t.Fatal(err)
	}
	if rec.calls != 1 {
		t.Fatalf("the copy was not planned (Tee called %d times), so the map was walked once only", rec.calls)
	}
	qemuCompare(t, rawPath, dst)
	// The data takes a request or two per written region; the tables,
	// which qemu-img lays out one after the other, one request for all.
	if n := requests.Load(); n > tables/2 {
		t.Errorf("%d requests for a disk of %d grain tables and 16 data regions: the tables were read one by one", n, tables)
	}
	t.Logf("%d requests", requests.Load())
}
