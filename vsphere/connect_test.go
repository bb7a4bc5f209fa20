package vsphere

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestConnectTLSAndErrors(t *testing.T) {
	dir := t.TempDir()
	knownHosts := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(knownHosts, []byte(sim.URL.Host+" "+sim.Thumbprint+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	otherCA := filepath.Join(dir, "other.pem")
	if err := os.WriteFile(otherCA, []byte(testOtherCA), 0o600); err != nil {
		t.Fatal(err)
	}
	// A port nothing listens on: a socket bound to it does not listen, and
	// holds it until the test ends, so that no listener of a test running
	// beside this one takes it, as one could take a port found free and
	// closed again.
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	closed := net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port))

	base := Config{URL: sim.URL.String(), Username: sim.Username, Password: sim.Password}
	with := func(f func(*Config)) Config { c := base; f(&c); return c }
	sha256 := strings.ToLower(strings.ReplaceAll(sim.SHA256, ":", ""))
	cases := []struct {
		name    string
		cfg     Config
		wantErr string // empty: must connect
	}{
		// The refusals show what the server presents, to check and pin.
		{"untrusted certificate refused", base, "not trusted (unknown authority): pass its CA with --ca-cert/GOVC_TLS_CA_CERTS, pin it with --thumbprint, or use --insecure to skip verification; the server presents SHA-256 thumbprint " + sim.SHA256},
		{"other CA refused", with(func(c *Config) { c.CACerts = otherCA }), "the server presents SHA-256 thumbprint " + sim.SHA256},
		{"CA file", with(func(c *Config) { c.CACerts = sim.CACertFile }), ""},
		{"insecure", with(func(c *Config) { c.Insecure = true }), ""},
		{"SHA-1 thumbprint", with(func(c *Config) { c.Thumbprint = sim.Thumbprint }), ""},
		{"SHA-256 thumbprint, lower case, no colons", with(func(c *Config) { c.Thumbprint = sha256 }), ""},
		{"wrong thumbprint", with(func(c *Config) { c.Thumbprint = strings.Repeat("AB:", 19) + "AB" }), "does not match the pinned thumbprint AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB: check --thumbprint or --known-hosts (the server may have a new certificate); the server presents SHA-256 thumbprint " + sim.SHA256},
		{"thumbprint that is none", with(func(c *Config) { c.Thumbprint = "nonsense" }), `thumbprint "nonsense": want the certificate's SHA-1 (40 hex digits) or SHA-256 (64) fingerprint`},
		{"known hosts file", with(func(c *Config) { c.KnownHosts = knownHosts }), ""},
		{"wrong password", with(func(c *Config) { c.CACerts = sim.CACertFile; c.Password = "not-" + sim.Password }), "wrong user name or password"},
		{"password in URL", with(func(c *Config) {
			c.CACerts = sim.CACertFile
			c.Password = ""
			c.URL = "https://" + sim.Username + ":" + sim.Password + "@" + sim.URL.Host + "/sdk"
		}), ""},
		{"unreachable", with(func(c *Config) { c.Insecure = true; c.URL = "https://" + closed + "/sdk" }), "cannot reach"},
		{"unresolvable", with(func(c *Config) { c.Insecure = true; c.URL = "vc.invalid" }), "cannot"},
		{"no user", with(func(c *Config) { c.Insecure = true; c.Username = "" }), "no user name"},
		{"no password", with(func(c *Config) { c.Insecure = true; c.Password = "" }), "no password given for \"" + sim.Username + "\""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			conn, err := Connect(ctx, c.cfg)
			if c.wantErr == "" {
				if err != nil {
					t.Fatalf("connect: %v", err)
				}
				conn.Logout(ctx)
				return
			}
			if err == nil {
				conn.Logout(ctx)
				t.Fatalf("connected, want an error containing %q", c.wantErr)
			}
			msg := err.Error()
			if !strings.Contains(msg, c.wantErr) || strings.Contains(msg, "\n") {
				t.Errorf("error %q: want one line containing %q", msg, c.wantErr)
			}
			if strings.Contains(msg, sim.Password) {
				t.Errorf("error shows the password: %q", msg)
			}
		})
	}
}

func TestNormalizeThumbprint(t *testing.T) {
	cases := map[string]string{
		"ab:cd:ef":   "AB:CD:EF",
		"abcdef":     "AB:CD:EF",
		"AB CD EF":   "AB:CD:EF",
		"AB-CD-EF":   "AB:CD:EF",
		"AB:CD:EF":   "AB:CD:EF",
		"  ab:cd:ef": "AB:CD:EF",
	}
	for in, want := range cases {
		if got := normalizeThumbprint(in); got != want {
			t.Errorf("normalizeThumbprint(%q) = %q, want %q", in, got, want)
		}
	}
}

// testOtherCA is a self-signed certificate that signed nothing the
// simulator serves.
const testOtherCA = `-----BEGIN CERTIFICATE-----
MIIBhTCCASugAwIBAgIQIRi6zePL6mKjOipn+dNuaTAKBggqhkjOPQQDAjASMRAw
DgYDVQQKEwdBY21lIENvMB4XDTE3MTAyMDE5NDMwNloXDTE4MTAyMDE5NDMwNlow
EjEQMA4GA1UEChMHQWNtZSBDbzBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABD0d
7VNhbWvZLWPuj/RtHFjvtJBEwOkhbN/BnnE8rnZR8+sbwnc/KhCk3FhnpHZnQz7B
5aETbbIgmuvewdjvSBSjYzBhMA4GA1UdDwEB/wQEAwICpDATBgNVHSUEDDAKBggr
BgEFBQcDATAPBgNVHRMBAf8EBTADAQH/MCkGA1UdEQQiMCCCDmxvY2FsaG9zdDo1
NDUzgg4xMjcuMC4wLjE6NTQ1MzAKBggqhkjOPQQDAgNIADBFAiEA2zpJEPQyz6/l
Wf86aX6PepsntZv2GYlA5UpabfT2EZICICpJ5h/iI+i341gBmLiAFQOyTDT+/wQc
6MF9+Yw1Yy0t
-----END CERTIFICATE-----
`
