package kube

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"

	"github.com/podvm-migrate/podvm-migrate/testenv/internal/selfsigned"
)

// kubeSecrets are the files kube-apiserver needs to start: a self-signed
// serving certificate for loopback, a service-account key pair and a
// static token file with an admin and an unprivileged user.
type kubeSecrets struct {
	CertFile, KeyFile     string // serving certificate and key
	CAData                []byte // the certificate, PEM, for kubeconfigs
	SAKeyFile, SAPubFile  string // service-account signing key and public key
	TokenFile             string
	AdminToken, UserToken string
	// KubeletCertFile and KubeletKeyFile are the client certificate the
	// API server shows a kubelet (a node agent) for logs; self-signed, so
	// it is also the CA a kubelet verifies it with. Its user is in
	// system:masters.
	KubeletCertFile, KubeletKeyFile string
}

// Users in the static token file.
const (
	kubeAdminUser = "podvm-admin"  // in system:masters: may do anything
	kubePlainUser = "podvm-nobody" // no groups, no RBAC bindings: forbidden everywhere
	kubeIssuer    = "https://kubernetes.default.svc.cluster.local"
)

// writeKubeSecrets creates the files under dir.
func writeKubeSecrets(dir string) (*kubeSecrets, error) {
	s := &kubeSecrets{
		CertFile: filepath.Join(dir, "serving.crt"), KeyFile: filepath.Join(dir, "serving.key"),
		SAKeyFile: filepath.Join(dir, "sa.key"), SAPubFile: filepath.Join(dir, "sa.pub"),
		TokenFile:       filepath.Join(dir, "tokens.csv"),
		KubeletCertFile: filepath.Join(dir, "kubelet-client.crt"), KubeletKeyFile: filepath.Join(dir, "kubelet-client.key"),
	}
	certPEM, keyPEM, err := selfsigned.PEM(pkix.Name{CommonName: "podvm-testenv kube-apiserver"},
		[]string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"}, selfsigned.LoopbackIPs())
	if err != nil {
		return nil, fmt.Errorf("serving certificate: %w", err)
	}
	s.CAData = certPEM
	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("service-account key: %w", err)
	}
	saPub, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("service-account key: %w", err)
	}
	kubeletCert, kubeletKey, err := selfsigned.ClientPEM(pkix.Name{CommonName: "kube-apiserver-kubelet-client", Organization: []string{"system:masters"}})
	if err != nil {
		return nil, fmt.Errorf("kubelet client certificate: %w", err)
	}
	s.AdminToken, s.UserToken = randomToken(), randomToken()
	tokens := fmt.Sprintf("%s,%s,%s-uid,\"system:masters\"\n%s,%s,%s-uid\n",
		s.AdminToken, kubeAdminUser, kubeAdminUser, s.UserToken, kubePlainUser, kubePlainUser)
	files := []struct {
		path string
		data []byte
	}{
		{s.CertFile, s.CAData},
		{s.KeyFile, keyPEM},
		{s.SAKeyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(saKey)})},
		{s.SAPubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: saPub})},
		{s.TokenFile, []byte(tokens)},
		{s.KubeletCertFile, kubeletCert},
		{s.KubeletKeyFile, kubeletKey},
	}
	for _, f := range files {
		if err := os.WriteFile(f.path, f.data, 0o600); err != nil {
			return nil, fmt.Errorf("write %s: %w", f.path, err)
		}
	}
	return s, nil
}

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}
