package vsphere

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// Conn is a logged-in session with a vCenter or ESXi endpoint.
type Conn struct {
	Client     *vim25.Client
	Endpoint   string // the SDK URL, without credentials
	roundTrips *atomic.Int64
}

// RoundTrips returns how many HTTP requests the connection has made,
// log-in included.
func (c *Conn) RoundTrips() int64 { return c.roundTrips.Load() }

// Logout ends the session; errors are ignored (the session expires anyway).
func (c *Conn) Logout(ctx context.Context) {
	_ = session.NewManager(c.Client).Logout(ctx)
}

// countingTransport counts the requests that go through it.
type countingTransport struct {
	next http.RoundTripper
	n    *atomic.Int64
}

func (t countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.n.Add(1)
	return t.next.RoundTrip(r)
}

// Connect logs in to the endpoint of cfg. TLS is verified against the
// system roots, CACerts, a pinned Thumbprint or the KnownHosts file;
// Insecure skips verification. Errors are one line saying what to do, and
// never contain the password.
func Connect(ctx context.Context, cfg Config) (*Conn, error) {
	u, cfg, err := cfg.Endpoint()
	if err != nil {
		return nil, err
	}
	sc := soap.NewClient(u, cfg.Insecure)
	if cfg.CACerts != "" {
		if err := sc.SetRootCAs(cfg.CACerts); err != nil {
			return nil, fmt.Errorf("vsphere: CA certificates %s: %w", cfg.CACerts, err)
		}
	}
	if cfg.KnownHosts != "" {
		if err := sc.LoadThumbprints(cfg.KnownHosts); err != nil {
			return nil, fmt.Errorf("vsphere: known hosts %s: %w", cfg.KnownHosts, err)
		}
	}
	if cfg.Thumbprint != "" {
		sc.SetThumbprint(u.Host, normalizeThumbprint(cfg.Thumbprint))
	}
	n := new(atomic.Int64)
	sc.Client.Transport = countingTransport{next: sc.Client.Transport, n: n}
	host := u.Host

	c, err := vim25.NewClient(ctx, sc)
	if err != nil {
		return nil, withPresented(ctx, host, explain(host, cfg, err))
	}
	if cfg.Username == "" {
		return nil, fmt.Errorf("vsphere: no user name for %s: set --username or GOVC_USERNAME", host)
	}
	if cfg.Password == "" {
		return nil, fmt.Errorf("vsphere: no password given for %q at %s: set GOVC_PASSWORD or pass --password-file FILE", cfg.Username, host)
	}
	if err := session.NewManager(c).Login(ctx, url.UserPassword(cfg.Username, cfg.Password)); err != nil {
		return nil, explain(host, cfg, err)
	}
	return &Conn{Client: c, Endpoint: u.String(), roundTrips: n}, nil
}

// normalizeThumbprint accepts a SHA-1 or SHA-256 thumbprint with or without
// colons, in any case, and returns vSphere's AA:BB:… form.
func normalizeThumbprint(tp string) string {
	hex := strings.ToUpper(strings.NewReplacer(":", "", " ", "", "-", "").Replace(tp))
	var parts []string
	for i := 0; i+2 <= len(hex); i += 2 {
		parts = append(parts, hex[i:i+2])
	}
	return strings.Join(parts, ":")
}

// explain turns a connection or log-in error into one line that says what
// went wrong and what to do. It never includes the password.
func explain(host string, cfg Config, err error) error {
	untrusted := quiet{errUntrusted}
	var (
		unknownCA x509.UnknownAuthorityError
		hostErr   x509.HostnameError
		invalid   x509.CertificateInvalidError
		verify    *tls.CertificateVerificationError
		dnsErr    *net.DNSError
		opErr     *net.OpError
	)
	msg := err.Error()
	switch {
	case fault.Is(err, &types.InvalidLogin{}) || strings.Contains(msg, "incorrect user name or password"):
		return fmt.Errorf("vsphere: log-in to %s as %q failed: wrong user name or password (check --username/GOVC_USERNAME and GOVC_PASSWORD or --password-file)", host, cfg.Username)
	case strings.Contains(msg, "thumbprint does not match"):
		return fmt.Errorf("vsphere: the certificate of %s does not match the pinned thumbprint %s: check --thumbprint or --known-hosts (the server may have a new certificate)%w", host, cfg.Thumbprint, untrusted)
	case errors.As(err, &unknownCA) || errors.As(err, &verify) && isUnknownCA(verify):
		return fmt.Errorf("vsphere: the certificate of %s is not trusted (unknown authority): pass its CA with --ca-cert/GOVC_TLS_CA_CERTS, pin it with --thumbprint, or use --insecure to skip verification%w", host, untrusted)
	case errors.As(err, &hostErr):
		return fmt.Errorf("vsphere: the certificate of %s is not valid for that name (%s): connect by a name the certificate lists, pin it with --thumbprint, or use --insecure", host, hostErr.Error())
	case errors.As(err, &invalid):
		return fmt.Errorf("vsphere: the certificate of %s is invalid (%s): renew it, pin it with --thumbprint, or use --insecure", host, invalid.Error())
	case errors.As(err, &dnsErr):
		return fmt.Errorf("vsphere: cannot resolve %s: check --url/GOVC_URL and DNS", dnsErr.Name)
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return fmt.Errorf("vsphere: cannot reach %s (%s): check --url/GOVC_URL, that the host is up and port open, and any proxy or firewall", host, rootCause(opErr))
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("vsphere: %s did not answer in time: check --url/GOVC_URL and the network", host)
	}
	return fmt.Errorf("vsphere: %s: %s", host, oneLine(redactURL(msg)))
}

// quiet is an error that adds nothing to a message that wraps it.
type quiet struct{ error }

func (quiet) Error() string { return "" }

func (q quiet) Unwrap() error { return q.error }

// errUntrusted marks the errors of explain about a certificate that was
// not trusted, for withPresented.
var errUntrusted = errors.New("untrusted certificate")

// withPresented adds to an error about an untrusted certificate the
// thumbprint the server presents, read with a handshake that verifies
// nothing, so that the user can check it out of band and pin it. It is
// never trusted here.
func withPresented(ctx context.Context, host string, err error) error {
	if !errors.Is(err, errUntrusted) {
		return err
	}
	addr := host
	if _, _, e := net.SplitHostPort(host); e != nil {
		addr = net.JoinHostPort(host, "443")
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	d := tls.Dialer{Config: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // only to show what the server presents
	conn, derr := d.DialContext(ctx, "tcp", addr)
	if derr != nil {
		return err
	}
	defer conn.Close()
	certs := conn.(*tls.Conn).ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return err
	}
	sum := sha256.Sum256(certs[0].Raw)
	return fmt.Errorf("%w; the server presents SHA-256 thumbprint %s: compare it with the one vCenter shows (never pin one you have not checked)", err, normalizeThumbprint(hex.EncodeToString(sum[:])))
}

func isUnknownCA(v *tls.CertificateVerificationError) bool {
	var u x509.UnknownAuthorityError
	return errors.As(v.Err, &u)
}

func rootCause(err error) string {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err.Error()
		}
		err = u
	}
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
