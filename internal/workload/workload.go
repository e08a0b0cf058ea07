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

// Client talks to the workload API.
type Client struct {
	base string
	http *http.Client
}

// New returns a client for uri: unix:///var/run/iotedge/workload.sock or http://host:port.
func New(uri string) (*Client, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return nil, fmt.Errorf("workload URI %q: %w", uri, err)
	}
	switch u.Scheme {
	case "unix":
		sock := u.Path
		tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}}
		return &Client{base: "http://workload", http: &http.Client{Transport: tr, Timeout: 10 * time.Second}}, nil
	case "http", "https":
		return &Client{base: strings.TrimSuffix(uri, "/"), http: &http.Client{Timeout: 10 * time.Second}}, nil
	}
	return nil, fmt.Errorf("workload URI %q: unsupported scheme %q", uri, u.Scheme)
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
