// Package workload is a client of the IoT Edge workload API (the unix socket
// aziot-edged mounts into every module).
package workload

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// APIVersion is the workload API version used; every route accepts it.
const APIVersion = "2020-07-07"

const maxBody = 1 << 20

// idleTimeout closes a kept-alive connection to the workload API that has
// not been used for this long: a module asks for the trust bundle once per
// cycle, and aziot-edged should not hold a connection open for each module
// between cycles.
const idleTimeout = 30 * time.Second

// Client talks to the workload API. Make one per process (or per gatherer)
// and reuse it: it keeps at most one idle connection, which Close releases.
type Client struct {
	base string
	uri  string
	http *http.Client
	tr   *http.Transport
}

// New returns a client for uri: unix:///var/run/iotedge/workload.sock or http://host:port.
func New(uri string) (*Client, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return nil, fmt.Errorf("workload URI %q: %w", uri, err)
	}
	tr := &http.Transport{
		Proxy:               nil, // the workload API is local: never through https_proxy
		MaxIdleConns:        1,
		MaxIdleConnsPerHost: 1,
		IdleConnTimeout:     idleTimeout,
	}
	c := &Client{uri: uri, tr: tr, http: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
	switch u.Scheme {
	case "unix":
		sock := u.Path
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}
		c.base = "http://workload"
		return c, nil
	case "http", "https":
		c.base = strings.TrimSuffix(uri, "/")
		return c, nil
	}
	return nil, fmt.Errorf("workload URI %q: unsupported scheme %q", uri, u.Scheme)
}

// URI is the address the client was made for.
func (c *Client) URI() string { return c.uri }

// Close releases the idle connection to the workload API. The client may
// still be used afterwards: it then opens a new one.
func (c *Client) Close() error {
	c.tr.CloseIdleConnections()
	return nil
}

// TrustBundle returns the certificates edgeHub's server certificate must chain to.
func (c *Client) TrustBundle(ctx context.Context) (*x509.CertPool, []*x509.Certificate, error) {
	var resp struct {
		Certificate string `json:"certificate"`
	}
	if err := c.get(ctx, "/trust-bundle", &resp); err != nil {
		return nil, nil, fmt.Errorf("fetching the trust bundle: %w", err)
	}
	pool := x509.NewCertPool()
	var certs []*x509.Certificate
	rest := []byte(resp.Certificate)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, nil, fmt.Errorf("fetching the trust bundle: parsing a certificate: %w", err)
		}
		pool.AddCert(cert)
		certs = append(certs, cert)
	}
	if len(certs) == 0 {
		return nil, nil, errors.New("fetching the trust bundle: the workload API returned no certificate")
	}
	return pool, certs, nil
}

func (c *Client) get(ctx context.Context, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path+"?api-version="+APIVersion, nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(body, &e)
		return fmt.Errorf("%s: HTTP %d %s", path, resp.StatusCode, e.Message)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("%s: decoding the answer: %w", path, err)
	}
	return nil
}
