// Package remote reads disk files over HTTP(S) with range requests, such as
// the files of a vSphere datastore (/folder/…). Reads are retried and
// resumed where a dropped connection stopped; TLS follows the given
// http.Client (a vSphere session's, vsphere.Conn.HTTPClient, for its rules
// and cookie). Finding a datastore file's URL is the vsphere package's job.
package remote

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/podvm-migrate/podvm-migrate/convert/block"
)

// Options say how remote files are read.
type Options struct {
	Client  *http.Client  // carries TLS settings and session cookies; default http.DefaultClient
	Retries int           // attempts after a failure, per read; default 5
	Backoff time.Duration // first wait between attempts, doubled each time; default 200ms
}

func (o Options) withDefaults() Options {
	if o.Client == nil {
		o.Client = http.DefaultClient
	}
	if o.Retries <= 0 {
		o.Retries = 5
	}
	if o.Backoff <= 0 {
		o.Backoff = 200 * time.Millisecond
	}
	return o
}

// ErrNoRanges is the error of OpenFile when the server ignores range
// requests; such a file can only be streamed (OpenStream).
var ErrNoRanges = errors.New("the server does not support range requests")

// OpenStream GETs u from the start, for servers that ignore ranges (an NFC
// export of a streamOptimized disk). It cannot resume.
func OpenStream(ctx context.Context, u *url.URL, o Options) (io.ReadCloser, error) {
	o = o.withDefaults()
	r := &reader{ctx: ctx, u: u.String(), name: Redact(u), o: o}
	var body io.ReadCloser
	err := r.retry(0, func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.u, nil)
		if err != nil {
			return permanent{err}
		}
		resp, err := o.Client.Do(req)
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			return statusError(resp)
		}
		body = resp.Body
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.name, err)
	}
	return body, nil
}

// reader is an io.ReaderAt over one URL.
type reader struct {
	ctx     context.Context
	u       string
	name    string
	o       Options
	retries atomic.Int64
}

// OpenFile opens the file at u for reading with range requests. The server
// must support them (vSphere's /folder and NFC URLs do).
func OpenFile(ctx context.Context, u *url.URL, o Options) (*block.File, error) {
	r := &reader{ctx: ctx, u: u.String(), name: Redact(u), o: o.withDefaults()}
	size, err := r.size()
	if err != nil {
		return nil, err
	}
	return block.NewFile(r.name, r, size, nil), nil
}

// Redact is u without its query and password, for messages.
func Redact(u *url.URL) string {
	c := *u
	c.RawQuery, c.User, c.Fragment = "", nil, ""
	return c.String()
}

// size asks for the first byte: a 206 answer gives the size.
func (r *reader) size() (int64, error) {
	var size int64
	err := r.retry(0, func() error {
		resp, err := r.get("bytes=0-0")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusPartialContent:
			cr := resp.Header.Get("Content-Range")
			i := strings.LastIndexByte(cr, '/')
			n, err := strconv.ParseInt(cr[i+1:], 10, 64)
			if i < 0 || err != nil {
				return permanent{fmt.Errorf("bad Content-Range %q", cr)}
			}
			size = n
			return nil
		case http.StatusRequestedRangeNotSatisfiable:
			size = 0 // an empty file
			return nil
		case http.StatusOK:
			return permanent{ErrNoRanges}
		}
		return statusError(resp)
	})
	if err != nil {
		return 0, fmt.Errorf("%s: %w", r.name, err)
	}
	return size, nil
}

// ReadAt reads len(p) bytes at off, resuming after the last byte received
// when a connection drops.
func (r *reader) ReadAt(p []byte, off int64) (int, error) {
	got := 0
	err := r.retry(off, func() error {
		for got < len(p) {
			resp, err := r.get(fmt.Sprintf("bytes=%d-%d", off+int64(got), off+int64(len(p))-1))
			if err != nil {
				return err
			}
			if resp.StatusCode != http.StatusPartialContent {
				resp.Body.Close()
				if resp.StatusCode == http.StatusRequestedRangeNotSatisfiable {
					return permanent{io.EOF}
				}
				return statusError(resp)
			}
			n, err := io.ReadFull(resp.Body, p[got:])
			resp.Body.Close()
			got += n
			if err != nil {
				if n > 0 {
					r.retries.Add(1) // progress was made: resume without using up an attempt
					continue
				}
				return err
			}
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, io.EOF) {
			return got, io.EOF
		}
		return got, fmt.Errorf("%s: offset %d: %w", r.name, off+int64(got), err)
	}
	return got, nil
}

func (r *reader) get(rng string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(r.ctx, http.MethodGet, r.u, nil)
	if err != nil {
		return nil, permanent{err}
	}
	req.Header.Set("Range", rng)
	return r.o.Client.Do(req)
}

// permanent is an error not worth retrying.
type permanent struct{ error }

func (p permanent) Unwrap() error { return p.error }

func statusError(resp *http.Response) error {
	err := fmt.Errorf("HTTP %s", resp.Status)
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return permanent{notFound{err}}
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return err
	}
	return permanent{err}
}

// notFound is an HTTP 404, which is os.ErrNotExist: a missing extent or
// parent reads as missing, as it does for local files.
type notFound struct{ error }

func (notFound) Is(target error) bool { return target == os.ErrNotExist }

// retry runs f until it succeeds, fails permanently, the context ends, or
// Retries attempts have failed, waiting Backoff, then twice as long, between
// attempts.
func (r *reader) retry(off int64, f func() error) error {
	var err error
	attempt := 0
	b := wait.Backoff{Duration: r.o.Backoff, Factor: 2, Steps: r.o.Retries + 1}
	werr := wait.ExponentialBackoffWithContext(r.ctx, b, func(context.Context) (bool, error) {
		if err = f(); err == nil {
			return true, nil
		}
		var p permanent
		var cv *tls.CertificateVerificationError
		if errors.As(err, &p) || errors.As(err, &cv) || r.ctx.Err() != nil {
			return false, err
		}
		if attempt >= r.o.Retries {
			return false, fmt.Errorf("after %d attempts: %w", attempt+1, err)
		}
		attempt++
		r.retries.Add(1)
		return false, nil
	})
	return werr
}

// Opener returns a function that opens the files next to base: same
// scheme, host and query (a datastore's dcPath and dsName), another path.
// It suits vmdk.OpenWith, whose extent and parent names are paths.
func Opener(ctx context.Context, base *url.URL, o Options) func(path string) (*block.File, error) {
	return func(path string) (*block.File, error) {
		u := *base
		u.Path, u.RawPath = path, ""
		return OpenFile(ctx, &u, o)
	}
}
