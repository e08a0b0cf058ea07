package facts

import (
	"bufio"
	"context"
	"encoding/base64"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// connectProxy is an HTTP CONNECT proxy on 127.0.0.1 that tunnels only to
// the addresses in routes (host:port as the client asks → a loopback
// address), so that a probe of hub.contoso.test:443 reaches a local server
// and nothing leaves the machine. With auth set, it requires that
// Proxy-Authorization. With silent set, it accepts and never answers.
type connectProxy struct {
	routes map[string]string
	auth   string
	silent bool

	mu       sync.Mutex
	requests []string // "CONNECT host:port"
	conns    []net.Conn
}

func (p *connectProxy) start(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			p.conns = append(p.conns, c)
			p.mu.Unlock()
			if !p.silent {
				go p.serve(c)
			}
		}
	}()
	t.Cleanup(func() {
		l.Close()
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, c := range p.conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

func (p *connectProxy) serve(c net.Conn) {
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	p.mu.Lock()
	p.requests = append(p.requests, req.Method+" "+req.Host)
	p.mu.Unlock()
	reply := func(status string) { _, _ = io.WriteString(c, "HTTP/1.1 "+status+"\r\n\r\n") }
	switch {
	case req.Method != http.MethodConnect:
		reply("405 Method Not Allowed")
		return
	case p.auth != "" && req.Header.Get("Proxy-Authorization") != p.auth:
		reply("407 Proxy Authentication Required")
		return
	}
	to, ok := p.routes[req.Host]
	if !ok {
		reply("502 Bad Gateway")
		return
	}
	up, err := net.Dial("tcp", to)
	if err != nil {
		reply("502 Bad Gateway")
		return
	}
	p.mu.Lock()
	p.conns = append(p.conns, up)
	p.mu.Unlock()
	reply("200 Connection established")
	go func() { _, _ = io.Copy(up, br) }()
	_, _ = io.Copy(c, up)
}

func (p *connectProxy) seen() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.requests...)
}

// within fails when d exceeds three times the timeout (and a second of slack
// for a loaded machine): probes must never hang.
func within(t *testing.T, d, timeout time.Duration) {
	t.Helper()
	if d > 3*timeout+time.Second {
		t.Errorf("took %v with a timeout of %v", d, timeout)
	}
}

func TestProber(t *testing.T) {
	ca := newTestCA(t, "Test Root CA")
	port, _ := tlsServer(t, ca.leaf(t, "127.0.0.1", "hub.contoso.test"))
	const timeout = 500 * time.Millisecond
	p := &Prober{Timeout: timeout, Roots: ca.pool}
	ctx := context.Background()

	tests := []struct {
		name    string
		target  ProbeTarget
		ok      bool
		dnsErr  string
		tlsErr  string
		addrs   bool
		viaProx bool
	}{
		{name: "trusted TLS server", target: ProbeTarget{"iothub", "127.0.0.1", port}, ok: true, addrs: true},
		{name: "accepts TCP, never answers", target: ProbeTarget{"iothub", "127.0.0.1", blackhole(t)}, tlsErr: "deadline exceeded", addrs: true},
		{name: "closed port", target: ProbeTarget{"registry", "127.0.0.1", closedPort(t)}, tlsErr: "connection refused", addrs: true},
		{name: "name that does not resolve", target: ProbeTarget{"iothub", "nohost.invalid", "8883"}, dnsErr: "no such host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			got := p.Run(ctx, []ProbeTarget{tt.target})
			within(t, time.Since(start), timeout)
			if len(got) != 1 {
				t.Fatalf("%d probes for one target", len(got))
			}
			pr := got[0]
			if pr.Purpose != tt.target.Purpose || pr.Host != tt.target.Host || pr.Port != tt.target.Port || pr.ViaProxy {
				t.Errorf("probe %+v does not describe target %+v", pr, tt.target)
			}
			if pr.OK() != tt.ok {
				t.Errorf("OK() = %v (dns %q, tls %q), want %v", pr.OK(), pr.DNSError, pr.TLSError, tt.ok)
			}
			if !strings.Contains(pr.DNSError, tt.dnsErr) || (tt.dnsErr == "") != (pr.DNSError == "") {
				t.Errorf("DNSError %q, want %q", pr.DNSError, tt.dnsErr)
			}
			if !strings.Contains(pr.TLSError, tt.tlsErr) || (tt.tlsErr == "") != (pr.TLSError == "") {
				t.Errorf("TLSError %q, want %q", pr.TLSError, tt.tlsErr)
			}
			if (len(pr.Addrs) > 0) != tt.addrs {
				t.Errorf("Addrs %v", pr.Addrs)
			}
			if pr.LatencyMs < 0 || pr.LatencyMs > (3*timeout+time.Second).Milliseconds() {
				t.Errorf("LatencyMs %d", pr.LatencyMs)
			}
		})
	}

	t.Run("untrusted server: a TLS error", func(t *testing.T) {
		other := newTestCA(t, "Other CA")
		got := (&Prober{Timeout: timeout, Roots: other.pool}).Run(ctx, []ProbeTarget{{"iothub", "127.0.0.1", port}})
		if !strings.Contains(got[0].TLSError, "certificate signed by unknown authority") {
			t.Errorf("TLSError %q", got[0].TLSError)
		}
	})

	t.Run("targets run concurrently, each bounded", func(t *testing.T) {
		var targets []ProbeTarget
		for i := 0; i < 6; i++ {
			targets = append(targets, ProbeTarget{"registry", "127.0.0.1", blackhole(t)})
		}
		start := time.Now()
		got := p.Run(ctx, targets)
		within(t, time.Since(start), timeout)
		for _, pr := range got {
			if pr.TLSError == "" {
				t.Errorf("%s: no error from a silent server", pr.Port)
			}
		}
	})

	t.Run("a cancelled context ends the probes", func(t *testing.T) {
		ctx, cancel := context.WithCancel(ctx)
		cancel()
		got := (&Prober{Timeout: time.Hour, Roots: ca.pool}).Run(ctx, []ProbeTarget{{"iothub", "127.0.0.1", blackhole(t)}})
		if got[0].OK() {
			t.Error("a probe with a cancelled context succeeded")
		}
	})
}

func TestProberThroughProxy(t *testing.T) {
	ca := newTestCA(t, "Test Root CA")
	port, _ := tlsServer(t, ca.leaf(t, "hub.contoso.test", "127.0.0.1"))
	const timeout = 500 * time.Millisecond
	ctx := context.Background()
	// The probe asks for hub.contoso.test:443; the proxy maps that name to the local server.
	routes := map[string]string{"hub.contoso.test:443": "127.0.0.1:" + port}
	target := ProbeTarget{"iothub", "hub.contoso.test", "443"}

	t.Run("tunnel with credentials", func(t *testing.T) {
		px := &connectProxy{routes: routes, auth: "Basic " + base64.StdEncoding.EncodeToString([]byte("edge:s3cret"))}
		addr := px.start(t)
		u, _ := url.Parse("http://edge:s3cret@" + addr)
		got := (&Prober{Timeout: timeout, Roots: ca.pool, Proxy: u}).Run(ctx, []ProbeTarget{target})[0]
		if !got.OK() || !got.ViaProxy {
			t.Fatalf("probe %+v, want a handshake through the proxy", got)
		}
		// The name is resolved by the proxy, not here (here it would not resolve).
		if got.Addrs != nil || got.DNSError != "" {
			t.Errorf("Addrs %v, DNSError %q: the module resolved a proxied name", got.Addrs, got.DNSError)
		}
		if s := px.seen(); len(s) != 1 || s[0] != "CONNECT hub.contoso.test:443" {
			t.Errorf("proxy saw %v", s)
		}
	})

	t.Run("wrong credentials: the proxy's answer", func(t *testing.T) {
		px := &connectProxy{routes: routes, auth: "Basic " + base64.StdEncoding.EncodeToString([]byte("edge:s3cret"))}
		u, _ := url.Parse("http://edge:wrong@" + px.start(t))
		got := (&Prober{Timeout: timeout, Roots: ca.pool, Proxy: u}).Run(ctx, []ProbeTarget{target})[0]
		if !strings.Contains(got.TLSError, "proxy CONNECT hub.contoso.test:443: 407 Proxy Authentication Required") {
			t.Errorf("TLSError %q", got.TLSError)
		}
	})

	t.Run("only 443 goes through the proxy", func(t *testing.T) {
		px := &connectProxy{routes: routes}
		u, _ := url.Parse("http://" + px.start(t))
		got := (&Prober{Timeout: timeout, Roots: ca.pool, Proxy: u}).Run(ctx, []ProbeTarget{{"iothub", "127.0.0.1", port}})[0]
		if !got.OK() || got.ViaProxy || len(px.seen()) != 0 {
			t.Errorf("probe %+v, proxy saw %v: want a direct probe", got, px.seen())
		}
	})

	t.Run("a proxy that never answers", func(t *testing.T) {
		px := &connectProxy{silent: true}
		u, _ := url.Parse("http://" + px.start(t))
		start := time.Now()
		got := (&Prober{Timeout: timeout, Roots: ca.pool, Proxy: u}).Run(ctx, []ProbeTarget{target})[0]
		within(t, time.Since(start), timeout)
		if !strings.Contains(got.TLSError, "proxy CONNECT hub.contoso.test:443") {
			t.Errorf("TLSError %q", got.TLSError)
		}
	})

	t.Run("a proxy URL without a port means port 80", func(t *testing.T) {
		u, _ := url.Parse("http://127.0.0.1")
		got := (&Prober{Timeout: timeout, Roots: ca.pool, Proxy: u}).Run(ctx, []ProbeTarget{target})[0]
		if !strings.Contains(got.TLSError, "127.0.0.1:80") || strings.Contains(got.TLSError, "missing port") {
			t.Errorf("TLSError %q, want a dial of 127.0.0.1:80", got.TLSError)
		}
	})
}

func TestReadClock(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/nodate":
			w.Header()["Date"] = nil // net/http then sends no Date
		default:
			w.Header().Set("Date", time.Now().Add(-30*time.Second).UTC().Format(http.TimeFormat))
		}
		w.WriteHeader(http.StatusUnauthorized) // IoT Hub answers an anonymous request like this, with a Date
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the untrusted-client case fails its handshake on purpose
	srv.StartTLS()
	defer srv.Close()
	ctx := context.Background()

	cl := ReadClock(ctx, srv.Client(), srv.URL+"/", time.Now)
	if cl.Error != "" {
		t.Fatalf("Error %q", cl.Error)
	}
	if cl.SkewSeconds < 28 || cl.SkewSeconds > 32 {
		t.Errorf("SkewSeconds %.2f, want about +30 (the local clock ahead of the reference)", cl.SkewSeconds)
	}
	if cl.Source != srv.URL+"/" || cl.Reference.IsZero() || cl.Local.Sub(cl.Reference) < 28*time.Second {
		t.Errorf("clock %+v", cl)
	}

	if cl := ReadClock(ctx, srv.Client(), srv.URL+"/nodate", time.Now); cl.Error != "no usable Date header in the response" {
		t.Errorf("without Date: Error %q", cl.Error)
	}

	// An untrusted server: the TLS error, never a reading.
	if cl := ReadClock(ctx, &http.Client{Timeout: time.Second}, srv.URL+"/", time.Now); cl.Error == "" || cl.SkewSeconds != 0 {
		t.Errorf("untrusted server: %+v, want an error", cl)
	}

	// A silent server: bounded by the client's timeout.
	c := &http.Client{Timeout: 300 * time.Millisecond}
	start := time.Now()
	cl = ReadClock(ctx, c, "https://127.0.0.1:"+blackhole(t)+"/", time.Now)
	within(t, time.Since(start), 300*time.Millisecond)
	if cl.Error == "" {
		t.Error("no error from a silent server")
	}
}
