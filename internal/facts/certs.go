package facts

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"time"
)

// CertFrom converts an X.509 certificate.
func CertFrom(c *x509.Certificate) Cert {
	selfSigned := bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignatureFrom(c) == nil
	return Cert{
		Subject: c.Subject.String(), CommonName: c.Subject.CommonName, Issuer: c.Issuer.String(),
		NotBefore: c.NotBefore.UTC(), NotAfter: c.NotAfter.UTC(), IsCA: c.IsCA, SelfSigned: selfSigned,
		HasAKID: len(c.AuthorityKeyId) > 0 && !bytes.Equal(c.AuthorityKeyId, c.SubjectKeyId), DNSNames: c.DNSNames,
	}
}

// CertsFrom converts a chain.
func CertsFrom(chain []*x509.Certificate) []Cert {
	out := make([]Cert, len(chain))
	for i, c := range chain {
		out[i] = CertFrom(c)
	}
	return out
}

// EdgeHubTLS reads the chain edgeHub presents on the first port of ports that
// answers. The chain is verified against roots (nil: the system roots) for
// serverName; a chain that does not verify is still returned, with the reason,
// and the connection is closed right after the handshake: nothing is ever
// sent over an unverified connection.
func EdgeHubTLS(ctx context.Context, host, serverName string, ports []string, roots *x509.CertPool, timeout time.Duration) (
	endpoint string, chain []Cert, verifyErr string, err error) {
	var errs []error
	for _, port := range ports {
		addr := net.JoinHostPort(host, port)
		chain, verifyErr, err = tlsChain(ctx, addr, serverName, roots, timeout)
		if err == nil {
			return addr, chain, verifyErr, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", addr, err))
	}
	return "", nil, "", errors.Join(errs...)
}

func tlsChain(ctx context.Context, addr, serverName string, roots *x509.CertPool, timeout time.Duration) ([]Cert, string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, "", err
	}
	defer raw.Close()
	conn := tls.Client(raw, &tls.Config{ServerName: serverName, RootCAs: roots, MinVersion: tls.VersionTLS12})
	err = conn.HandshakeContext(ctx)
	if err == nil {
		return CertsFrom(conn.ConnectionState().PeerCertificates), "", nil
	}
	var verr *tls.CertificateVerificationError
	if errors.As(err, &verr) {
		return CertsFrom(verr.UnverifiedCertificates), verr.Err.Error(), nil
	}
	return nil, "", err
}

func tlsConfigWithRoots(roots *x509.CertPool) *tls.Config {
	return &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
}
