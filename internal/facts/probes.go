package facts

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// ProbeTarget is a host and port to resolve and handshake with.
type ProbeTarget struct {
	Purpose string // iothub, registry
	Host    string
	Port    string
}

// Prober runs DNS and TLS probes, each bounded by Timeout.
type Prober struct {
	Timeout  time.Duration
	Roots    *x509.CertPool // nil: the system roots
	Proxy    *url.URL       // used for port 443 when set
	Resolver *net.Resolver  // nil: net.DefaultResolver
}

// Run probes every target concurrently; the whole call is bounded by the
// probe timeout (DNS and TLS share it), whatever the targets do.
func (p *Prober) Run(ctx context.Context, targets []ProbeTarget) []Probe {
	out := make([]Probe, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Add(1)
		go func(i int, t ProbeTarget) {
			defer wg.Done()
			out[i] = p.one(ctx, t)
		}(i, t)
	}
	wg.Wait()
	return out
}

func (p *Prober) one(ctx context.Context, t ProbeTarget) Probe {
	ctx, cancel := context.WithTimeout(ctx, p.Timeout)
	defer cancel()
	start := time.Now()
	pr := Probe{Purpose: t.Purpose, Host: t.Host, Port: t.Port, ViaProxy: p.Proxy != nil && t.Port == "443"}
	defer func() { pr.LatencyMs = time.Since(start).Milliseconds() }()
	res := p.Resolver
	if res == nil {
		res = net.DefaultResolver
	}
	if !pr.ViaProxy {
		addrs, err := res.LookupHost(ctx, t.Host)
		if err != nil {
			pr.DNSError = err.Error()
			return pr
		}
		pr.Addrs = addrs
	}
	conn, err := p.dial(ctx, t, pr.ViaProxy)
	if err != nil {
		pr.TLSError = err.Error()
		return pr
	}
	defer conn.Close()
	tc := tls.Client(conn, &tls.Config{ServerName: t.Host, RootCAs: p.Roots, MinVersion: tls.VersionTLS12})
	if err := tc.HandshakeContext(ctx); err != nil {
		pr.TLSError = err.Error()
	}
	return pr
}

func (p *Prober) dial(ctx context.Context, t ProbeTarget, viaProxy bool) (net.Conn, error) {
	var d net.Dialer
	target := net.JoinHostPort(t.Host, t.Port)
	if !viaProxy {
		return d.DialContext(ctx, "tcp", target)
	}
	proxyAddr := p.Proxy.Host
	if p.Proxy.Port() == "" { // http://proxy means port 80, as for net/http
		port := "80"
		if p.Proxy.Scheme == "https" {
			port = "443"
		}
		proxyAddr = net.JoinHostPort(p.Proxy.Hostname(), port)
	}
	conn, err := d.DialContext(ctx, "tcp", proxyAddr)
	if err != nil {
		return nil, fmt.Errorf("proxy %s: %w", proxyAddr, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	req := &http.Request{Method: http.MethodConnect, URL: &url.URL{Opaque: target}, Host: target, Header: http.Header{}}
	if u := p.Proxy.User; u != nil {
		// A proxy reads its credentials from Proxy-Authorization (SetBasicAuth would
		// set Authorization, meant for the target, and the proxy would answer 407).
		pw, _ := u.Password()
		req.Header.Set("Proxy-Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(u.Username()+":"+pw)))
	}
	if err := req.Write(conn); err != nil {
		conn.Close()
		return nil, fmt.Errorf("proxy CONNECT %s: %w", target, err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("proxy CONNECT %s: %w", target, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		conn.Close()
		return nil, fmt.Errorf("proxy CONNECT %s: %s", target, resp.Status)
	}
	_ = conn.SetDeadline(time.Time{})
	return conn, nil
}

// ReadClock compares the local clock with the Date header of an HTTPS
// response from url (IoT Hub answers any path with a Date).
func ReadClock(ctx context.Context, c *http.Client, rawURL string, now func() time.Time) *Clock {
	cl := &Clock{Source: rawURL}
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, rawURL, nil)
	if err != nil {
		cl.Error = err.Error()
		return cl
	}
	t0 := now()
	resp, err := c.Do(req)
	t1 := now()
	if err != nil {
		cl.Error = err.Error()
		return cl
	}
	resp.Body.Close()
	date, err := http.ParseTime(resp.Header.Get("Date"))
	if err != nil {
		cl.Error = "no usable Date header in the response"
		return cl
	}
	mid := t0.Add(t1.Sub(t0) / 2)
	cl.Reference, cl.Local = date.UTC(), mid.UTC()
	// Date has a resolution of one second: compare with the local time truncated likewise.
	cl.SkewSeconds = mid.Truncate(time.Second).Sub(date).Seconds()
	return cl
}
