package node

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"time"
)

// servingTLS loads the kubelet API's certificate, or makes a self-signed
// one for the node's name and address (the API server does not verify a
// kubelet's certificate unless given --kubelet-certificate-authority).
func servingTLS(c *Config) (*tls.Config, error) {
	if c.ServingCert != "" || c.ServingKey != "" {
		cert, err := tls.LoadX509KeyPair(c.ServingCert, c.ServingKey)
		if err != nil {
			return nil, fmt.Errorf("node %s: serving certificate %s / key %s: %w", c.NodeName, c.ServingCert, c.ServingKey, err)
		}
		return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("node %s: serving key: %w", c.NodeName, err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, fmt.Errorf("node %s: serving certificate: %w", c.NodeName, err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: c.NodeName + "@podvm-migrate"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{c.NodeName},
	}
	if ip := net.ParseIP(c.NodeIP); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("node %s: serving certificate: %w", c.NodeName, err)
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}
