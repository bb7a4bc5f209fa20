package vcsim

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/podvm-migrate/podvm-migrate/testenv/internal/selfsigned"
)

// selfSignedCert makes a self-signed certificate (its own CA) valid for
// localhost, 127.0.0.1, ::1 and the given extra host, writes its PEM to
// certFile and returns it ready for a TLS server.
func selfSignedCert(certFile, extraHost string) (tls.Certificate, error) {
	dnsNames, ips := []string{"localhost"}, selfsigned.LoopbackIPs()
	if extraHost != "" {
		if ip := net.ParseIP(extraHost); ip != nil {
			if !ip.IsLoopback() && !ip.IsUnspecified() {
				ips = append(ips, ip)
			}
		} else if extraHost != "localhost" {
			dnsNames = append(dnsNames, extraHost)
		}
	}
	certPEM, keyPEM, err := selfsigned.PEM(pkix.Name{CommonName: "podvm-testenv vSphere simulator", Organization: []string{"podvm-migrate testenv"}}, dnsNames, ips)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("vsphere simulator certificate: %w", err)
	}
	if err := os.WriteFile(certFile, certPEM, 0o644); err != nil {
		return tls.Certificate{}, fmt.Errorf("vsphere simulator certificate: %w", err)
	}
	return tls.X509KeyPair(certPEM, keyPEM)
}

// thumbprints returns the SHA-1 and SHA-256 thumbprints of a DER
// certificate in vSphere's colon-separated upper-case hex.
func thumbprints(der []byte) (sha1Print, sha256Print string) {
	s1 := sha1.Sum(der)
	s256 := sha256.Sum256(der)
	return colonHex(s1[:]), colonHex(s256[:])
}

func colonHex(b []byte) string {
	parts := make([]string, len(b))
	for i, c := range b {
		parts[i] = fmt.Sprintf("%02X", c)
	}
	return strings.Join(parts, ":")
}
