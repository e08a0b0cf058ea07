package emulator

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

const (
	// caValidity mirrors the quickstart Edge CA of IoT Edge 1.2+
	// (auto_generated_edge_ca_expiry_days = 90).
	caValidity = 90 * 24 * time.Hour
	// caRenewBefore makes the emulator replace a persisted CA that would
	// expire before a freshly issued server certificate.
	caRenewBefore = 31 * 24 * time.Hour
	// leafValidity is certd's default lifetime for module server certificates.
	leafValidity = 30 * 24 * time.Hour

	caCertFile = "edge-ca.pem"
	caKeyFile  = "edge-ca.key.pem"
)

// authority is the emulated Edge CA.
type authority struct {
	cert    *x509.Certificate
	certPEM []byte
	key     crypto.Signer
}

// loadOrCreateCA reads the Edge CA from dir, or creates (and, when dir is not
// empty, persists) a new self-signed one. A persisted CA that expires within
// caRenewBefore is replaced, as certd's auto-renewal would.
func loadOrCreateCA(dir, deviceID string, now time.Time) (*authority, bool, error) {
	if dir != "" {
		ca, err := readCA(dir)
		switch {
		case err == nil && now.Add(caRenewBefore).Before(ca.cert.NotAfter):
			return ca, false, nil
		case err != nil && !errors.Is(err, os.ErrNotExist):
			return nil, false, err
		}
	}
	ca, err := newCA(deviceID, now)
	if err != nil {
		return nil, false, err
	}
	if dir != "" {
		keyDER, err := x509.MarshalPKCS8PrivateKey(ca.key)
		if err != nil {
			return nil, false, fmt.Errorf("marshal edge CA key: %w", err)
		}
		keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
		if err := writeFileAtomic(filepath.Join(dir, caKeyFile), keyPEM, 0o600); err != nil {
			return nil, false, err
		}
		if err := writeFileAtomic(filepath.Join(dir, caCertFile), ca.certPEM, 0o644); err != nil {
			return nil, false, err
		}
	}
	return ca, true, nil
}

func readCA(dir string) (*authority, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, caCertFile))
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, caKeyFile))
	if err != nil {
		return nil, err
	}
	cb, _ := pem.Decode(certPEM)
	if cb == nil || cb.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s: no PEM certificate", caCertFile)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", caCertFile, err)
	}
	kb, _ := pem.Decode(keyPEM)
	if kb == nil {
		return nil, fmt.Errorf("%s: no PEM key", caKeyFile)
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", caKeyFile, err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: unsupported key type %T", caKeyFile, k)
	}
	return &authority{cert: cert, certPEM: pem.EncodeToMemory(cb), key: signer}, nil
}

func newCA(deviceID string, now time.Time) (*authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate edge CA key: %w", err)
	}
	name := pkix.Name{CommonName: "aziot-edge CA " + deviceID}
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               name,
		Issuer:                name,
		NotBefore:             now.Add(-5 * time.Minute),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		SubjectKeyId:          keyID(&key.PublicKey),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("create edge CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &authority{
		cert:    cert,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		key:     key,
	}, nil
}

// issuedCert is a leaf certificate issued by the Edge CA.
type issuedCert struct {
	tls      tls.Certificate
	chainPEM []byte // leaf followed by the Edge CA
	keyPEM   []byte // PKCS#8
	notAfter time.Time
}

// issueServerCert issues a serverAuth certificate with CN=commonName whose
// SANs are commonName plus extra names (DNS names or IP addresses). Its
// lifetime is leafValidity, capped at the CA's notAfter, as certd does.
func (a *authority) issueServerCert(commonName string, extra []string, now time.Time) (*issuedCert, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate server key: %w", err)
	}
	notAfter := now.Add(leafValidity)
	if notAfter.After(a.cert.NotAfter) {
		notAfter = a.cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber:   randomSerial(),
		Subject:        pkix.Name{CommonName: commonName},
		NotBefore:      now.Add(-5 * time.Minute),
		NotAfter:       notAfter,
		KeyUsage:       x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:    []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		AuthorityKeyId: a.cert.SubjectKeyId,
	}
	seen := map[string]bool{}
	for _, n := range append([]string{commonName}, extra...) {
		if n == "" || seen[n] {
			continue
		}
		seen[n] = true
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, &key.PublicKey, a.key)
	if err != nil {
		return nil, fmt.Errorf("issue server certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	chain := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), a.certPEM...)
	return &issuedCert{
		tls: tls.Certificate{
			Certificate: [][]byte{der, a.cert.Raw},
			PrivateKey:  key,
			Leaf:        leaf,
		},
		chainPEM: chain,
		keyPEM:   pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		notAfter: notAfter,
	}, nil
}

func randomSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return n.Add(n, big.NewInt(1))
}

func keyID(pub *ecdsa.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil
	}
	sum := sha256.Sum256(der)
	return sum[:20]
}
