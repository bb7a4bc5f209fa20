package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"strings"
	"time"
)

// selfSignedPEM makes a self-signed serving certificate (its own CA) for
// the given names and addresses, and returns it and its key in PEM.
func selfSignedPEM(subject pkix.Name, dnsNames []string, ips []net.IP) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               subject,
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(7 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              dnsNames,
		IPAddresses:           ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), nil
}

// loopbackIPs are the addresses every test server's certificate is valid for.
func loopbackIPs() []net.IP { return []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback} }

// selfSignedCert makes a self-signed certificate (its own CA) valid for
// localhost, 127.0.0.1, ::1 and the given extra host, writes its PEM to
// certFile and returns it ready for a TLS server.
func selfSignedCert(certFile, extraHost string) (tls.Certificate, error) {
	dnsNames, ips := []string{"localhost"}, loopbackIPs()
	if extraHost != "" {
		if ip := net.ParseIP(extraHost); ip != nil {
			if !ip.IsLoopback() && !ip.IsUnspecified() {
				ips = append(ips, ip)
			}
		} else if extraHost != "localhost" {
			dnsNames = append(dnsNames, extraHost)
		}
	}
	certPEM, keyPEM, err := selfSignedPEM(pkix.Name{CommonName: "podvm-testenv vSphere simulator", Organization: []string{"podvm-migrate testenv"}}, dnsNames, ips)
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
