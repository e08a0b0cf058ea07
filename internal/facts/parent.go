package facts

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// ParentProbe is what a child device sees of its parent (nested IoT Edge):
// TLS on the parent's MQTT and HTTPS ports, verified against the device's
// trust bundle, and the registry API proxy behind the parent's 443.
type ParentProbe struct {
	// Host is IOTEDGE_PARENTHOSTNAME; empty when the device has no parent.
	Host string `json:"host,omitempty"`
	// From says where the name was read ("edgeHub env", "module env").
	From string `json:"from,omitempty"`
	// Roots names what the certificates were verified against: "trust
	// bundle" (the workload API's), "configured roots" or "system roots".
	Roots     string           `json:"roots,omitempty"`
	Endpoints []ParentEndpoint `json:"endpoints,omitempty"`
	// Registry is GET /v2/ on the parent's HTTPS port (the registry API
	// proxy); nil when not tried, with RegistrySkipped saying why.
	Registry        *RegistryAnswer `json:"registry,omitempty"`
	RegistrySkipped string          `json:"registrySkipped,omitempty"`
}

// ParentEndpoint is one TLS handshake with the parent.
type ParentEndpoint struct {
	Port string `json:"port"`
	// Error is why no TLS session came up (connect, handshake).
	Error string `json:"error,omitempty"`
	// VerifyError is why the chain does not verify against the roots.
	VerifyError string `json:"verifyError,omitempty"`
	// NameError is why the parent's host name is not a name of the certificate.
	NameError string `json:"nameError,omitempty"`
	// CertNames are the leaf's DNS and IP names and its common name.
	CertNames []string `json:"certNames,omitempty"`
}

// RegistryAnswer is the parent's answer to GET /v2/.
type RegistryAnswer struct {
	Status int    `json:"status,omitempty"`
	Error  string `json:"error,omitempty"`
}

// ParentPorts are the ports a child device reaches its parent on.
type ParentPorts struct{ MQTT, HTTPS string }

// DefaultParentPorts are IoT Edge's: edgeHub's MQTT and the API proxy's HTTPS.
var DefaultParentPorts = ParentPorts{MQTT: "8883", HTTPS: "443"}

// parentHost finds IOTEDGE_PARENTHOSTNAME in the module's env, then edgeHub's
// and edgeAgent's.
func parentHost(s *Snapshot, env map[string]string) (host, from string) {
	if v := strings.TrimSpace(env["IOTEDGE_PARENTHOSTNAME"]); v != "" {
		return v, "this module's env"
	}
	for _, name := range []string{EdgeHub, EdgeAgent} {
		if c := s.Module(name); c != nil {
			if v, ok := c.EnvValue("IOTEDGE_PARENTHOSTNAME"); ok && strings.TrimSpace(v) != "" {
				return strings.TrimSpace(v), name + "'s env"
			}
		}
	}
	return "", ""
}

// ProbeParent handshakes with host on each port, verifying the chain against
// roots (nil: the system roots) and the host name against the leaf, and asks
// the HTTPS port for /v2/ when that handshake verified. Nothing is sent over
// a connection that did not verify.
func ProbeParent(ctx context.Context, host string, ports ParentPorts, roots *x509.CertPool, timeout time.Duration) ([]ParentEndpoint, *RegistryAnswer, string) {
	var eps []ParentEndpoint
	for _, port := range []string{ports.MQTT, ports.HTTPS} {
		eps = append(eps, parentTLS(ctx, host, port, roots, timeout))
	}
	https := eps[len(eps)-1]
	if https.Error != "" || https.VerifyError != "" || https.NameError != "" {
		return eps, nil, "the TLS session on port " + ports.HTTPS + " did not verify: nothing is sent over it"
	}
	return eps, registryAnswer(ctx, host, ports.HTTPS, roots, timeout), ""
}

func parentTLS(ctx context.Context, host, port string, roots *x509.CertPool, timeout time.Duration) ParentEndpoint {
	ep := ParentEndpoint{Port: port}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, port))
	if err != nil {
		ep.Error = err.Error()
		return ep
	}
	defer raw.Close()
	// The chain and the name are verified apart, below, to tell which fails.
	conn := tls.Client(raw, &tls.Config{ServerName: serverName(host), InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}) //nolint:gosec // verified by hand below
	if err := conn.HandshakeContext(ctx); err != nil {
		ep.Error = err.Error()
		return ep
	}
	chain := conn.ConnectionState().PeerCertificates
	if len(chain) == 0 {
		ep.Error = "the parent presented no certificate"
		return ep
	}
	leaf := chain[0]
	ep.CertNames = append(ep.CertNames, leaf.DNSNames...)
	for _, ip := range leaf.IPAddresses {
		ep.CertNames = append(ep.CertNames, ip.String())
	}
	if cn := leaf.Subject.CommonName; cn != "" && !contains(ep.CertNames, cn) {
		ep.CertNames = append(ep.CertNames, cn)
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: time.Now()}); err != nil {
		ep.VerifyError = err.Error()
	}
	if err := leaf.VerifyHostname(host); err != nil {
		var he x509.HostnameError
		if errors.As(err, &he) {
			ep.NameError = fmt.Sprintf("%s is not a name of the parent's certificate", host)
		} else {
			ep.NameError = err.Error()
		}
	}
	return ep
}

func contains(l []string, s string) bool {
	for _, e := range l {
		if e == s {
			return true
		}
	}
	return false
}

// serverName is the SNI to send: none for an IP address.
func serverName(host string) string {
	if net.ParseIP(host) != nil {
		return ""
	}
	return host
}

// maxRegistryBody bounds what is read of the parent's answer.
const maxRegistryBody = 4 << 10

func registryAnswer(ctx context.Context, host, port string, roots *x509.CertPool, timeout time.Duration) *RegistryAnswer {
	tr := &http.Transport{TLSClientConfig: tlsConfigWithRoots(roots), DisableKeepAlives: true, Proxy: nil}
	defer tr.CloseIdleConnections()
	c := &http.Client{Timeout: timeout, Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+net.JoinHostPort(host, port)+"/v2/", nil)
	if err != nil {
		return &RegistryAnswer{Error: err.Error()}
	}
	resp, err := c.Do(req)
	if err != nil {
		return &RegistryAnswer{Error: err.Error()}
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxRegistryBody))
	return &RegistryAnswer{Status: resp.StatusCode}
}
