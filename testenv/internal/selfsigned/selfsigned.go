// Package selfsigned makes the self-signed certificates of the test
// environment: the serving certificates of its loopback servers (the
// kube-apiserver and the vCenter simulator) and the client certificates
// the kube-apiserver shows a kubelet. Standard library only.
package selfsigned

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"time"
)

// PEM makes a self-signed serving certificate (its own CA) for the given
// names and addresses, valid for a week, and returns it and its key in PEM.
func PEM(subject pkix.Name, dnsNames []string, ips []net.IP) (certPEM, keyPEM []byte, err error) {
	return newPEM(subject, x509.ExtKeyUsageServerAuth, dnsNames, ips)
}

// ClientPEM makes a self-signed client certificate (its own CA, so a
// server verifies it with the certificate itself), valid for a week, and
// returns it and its key in PEM. The subject's common name is the user and
// its organizations are the groups a Kubernetes API server sees.
func ClientPEM(subject pkix.Name) (certPEM, keyPEM []byte, err error) {
	return newPEM(subject, x509.ExtKeyUsageClientAuth, nil, nil)
}

// newPEM makes a self-signed certificate for one extended key usage.
func newPEM(subject pkix.Name, usage x509.ExtKeyUsage, dnsNames []string, ips []net.IP) (certPEM, keyPEM []byte, err error) {
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
		ExtKeyUsage:           []x509.ExtKeyUsage{usage},
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

// LoopbackIPs are the addresses every test server's certificate is valid for.
func LoopbackIPs() []net.IP { return []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback} }
