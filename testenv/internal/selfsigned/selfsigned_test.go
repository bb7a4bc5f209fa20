package selfsigned

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"testing"
)

// TestUsage checks that each certificate verifies against itself for its
// own use only, for its names, and pairs with its key.
func TestUsage(t *testing.T) {
	subject := pkix.Name{CommonName: "podvm-test", Organization: []string{"system:masters"}}
	serving := func() ([]byte, []byte, error) {
		return PEM(subject, []string{"localhost"}, LoopbackIPs())
	}
	client := func() ([]byte, []byte, error) { return ClientPEM(subject) }
	for _, tc := range []struct {
		name       string
		make       func() ([]byte, []byte, error)
		use, other x509.ExtKeyUsage
		dnsName    string // verified name, "" for a client certificate
	}{
		{"serving", serving, x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth, "127.0.0.1"},
		{"serving by name", serving, x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth, "localhost"},
		{"client", client, x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			certPEM, keyPEM, err := tc.make()
			if err != nil {
				t.Fatal(err)
			}
			pair, err := tls.X509KeyPair(certPEM, keyPEM)
			if err != nil {
				t.Fatalf("certificate and key do not pair: %v", err)
			}
			cert, err := x509.ParseCertificate(pair.Certificate[0])
			if err != nil {
				t.Fatal(err)
			}
			if cert.Subject.CommonName != subject.CommonName || len(cert.Subject.Organization) != 1 || cert.Subject.Organization[0] != "system:masters" {
				t.Errorf("subject %v, want %v", cert.Subject, subject)
			}
			roots := x509.NewCertPool()
			roots.AddCert(cert)
			opts := x509.VerifyOptions{Roots: roots, DNSName: tc.dnsName, KeyUsages: []x509.ExtKeyUsage{tc.use}}
			if _, err := cert.Verify(opts); err != nil {
				t.Errorf("does not verify for its own use: %v", err)
			}
			opts.KeyUsages = []x509.ExtKeyUsage{tc.other}
			if _, err := cert.Verify(opts); err == nil {
				t.Errorf("verifies for the other use %v too", tc.other)
			}
		})
	}
}
