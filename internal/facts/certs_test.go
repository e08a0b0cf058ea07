package facts

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// testCA is a generated certificate authority, like an Edge CA.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

var (
	serialMu sync.Mutex
	serialN  int64
)

func nextSerial() *big.Int {
	serialMu.Lock()
	defer serialMu.Unlock()
	serialN++
	return big.NewInt(serialN)
}

func newTestCA(t testing.TB, cn string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: nextSerial(), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(90 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// leaf issues a TLS server certificate for names (host names or IP
// addresses); the chain presented is the leaf, then the CA.
func (ca *testCA) leaf(t testing.TB, names ...string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: nextSerial(), Subject: pkix.Name{CommonName: names[0]},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(30 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der, ca.cert.Raw}, PrivateKey: key}
}

// tlsServer serves TLS with cert on 127.0.0.1 (a random port). Each
// connection is handshaken, then, when it succeeded, answered with "ok" and
// closed. The handshake results are sent on the returned channel.
func tlsServer(t testing.TB, cert tls.Certificate) (port string, handshakes <-chan error) {
	t.Helper()
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan error, 16)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				err := c.(*tls.Conn).Handshake()
				if err == nil {
					_, _ = c.Write([]byte("ok"))
				}
				select {
				case ch <- err:
				default:
				}
			}()
		}
	}()
	t.Cleanup(func() { l.Close() })
	return portOf(l.Addr()), ch
}

func portOf(a net.Addr) string { return strconv.Itoa(a.(*net.TCPAddr).Port) }

// blackhole listens on 127.0.0.1 and accepts TCP connections that it never
// answers: a firewall that drops the traffic, simulated on loopback.
func blackhole(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return portOf(l.Addr())
}

// closedPort is a port on 127.0.0.1 where nothing listens any more.
func closedPort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := portOf(l.Addr())
	l.Close()
	return p
}

func TestEdgeHubTLS(t *testing.T) {
	ca := newTestCA(t, "Contoso Edge CA device1")
	port, handshakes := tlsServer(t, ca.leaf(t, "edge-01.contoso.local", "edgeHub"))
	ctx := context.Background()

	t.Run("verified with the Edge CA as root", func(t *testing.T) {
		ep, chain, verr, err := EdgeHubTLS(ctx, "127.0.0.1", "edge-01.contoso.local", []string{port}, ca.pool, 2*time.Second)
		if err != nil || verr != "" {
			t.Fatalf("err %v, verify error %q: want a verified chain", err, verr)
		}
		if ep != "127.0.0.1:"+port {
			t.Errorf("endpoint %q", ep)
		}
		if len(chain) != 2 || chain[0].CommonName != "edge-01.contoso.local" || chain[1].CommonName != "Contoso Edge CA device1" ||
			!chain[1].IsCA || !chain[1].SelfSigned || chain[0].Issuer != "CN=Contoso Edge CA device1" {
			t.Errorf("chain %+v, want the leaf then the Edge CA", chain)
		}
		if !slicesEqual(chain[0].DNSNames, []string{"edge-01.contoso.local", "edgeHub"}) {
			t.Errorf("leaf DNS names %v", chain[0].DNSNames)
		}
		if err := <-handshakes; err != nil {
			t.Errorf("server handshake: %v", err)
		}
	})

	t.Run("unknown roots: the chain and why, never a connection", func(t *testing.T) {
		_, chain, verr, err := EdgeHubTLS(ctx, "127.0.0.1", "edge-01.contoso.local", []string{port}, nil, 2*time.Second)
		if err != nil {
			t.Fatalf("err %v: a chain that does not verify is still read", err)
		}
		if len(chain) != 2 || chain[1].CommonName != "Contoso Edge CA device1" {
			t.Errorf("chain %+v, want the unverified leaf and Edge CA", chain)
		}
		if !strings.Contains(verr, "certificate signed by unknown authority") {
			t.Errorf("verify error %q, want unknown authority", verr)
		}
		// The client aborted the handshake: the server never got a connection to talk on.
		if err := <-handshakes; err == nil {
			t.Error("the server completed a handshake with a client that could not verify it")
		}
	})

	t.Run("wrong server name", func(t *testing.T) {
		_, chain, verr, err := EdgeHubTLS(ctx, "127.0.0.1", "gateway.contoso.local", []string{port}, ca.pool, 2*time.Second)
		if err != nil || len(chain) != 2 {
			t.Fatalf("err %v, chain %d certificates", err, len(chain))
		}
		if !strings.Contains(verr, "certificate is valid for edge-01.contoso.local, edgeHub, not gateway.contoso.local") {
			t.Errorf("verify error %q, want a host name error", verr)
		}
		<-handshakes //nolint:errcheck // waits for the server side; its error (the client may reject the chain) is not what is tested
	})

	t.Run("a refusing port falls through to the next", func(t *testing.T) {
		closed := closedPort(t)
		ep, chain, verr, err := EdgeHubTLS(ctx, "127.0.0.1", "edgeHub", []string{closed, port}, ca.pool, 2*time.Second)
		if err != nil || verr != "" || ep != "127.0.0.1:"+port || len(chain) != 2 {
			t.Errorf("got %q, %d certificates, %q, %v; want the second port's verified chain", ep, len(chain), verr, err)
		}
		<-handshakes //nolint:errcheck // waits for the server side; its error (the client may reject the chain) is not what is tested
	})

	t.Run("a silent port times out, then falls through", func(t *testing.T) {
		silent := blackhole(t)
		start := time.Now()
		ep, _, _, err := EdgeHubTLS(ctx, "127.0.0.1", "edgeHub", []string{silent, port}, ca.pool, 300*time.Millisecond)
		if err != nil || ep != "127.0.0.1:"+port {
			t.Errorf("got %q, %v; want the second port", ep, err)
		}
		if d := time.Since(start); d > 3*300*time.Millisecond+time.Second {
			t.Errorf("took %v with a 300ms timeout per port", d)
		}
		<-handshakes //nolint:errcheck // waits for the server side; its error (the client may reject the chain) is not what is tested
	})

	t.Run("every port fails: each is named", func(t *testing.T) {
		a, b := closedPort(t), closedPort(t)
		ep, chain, _, err := EdgeHubTLS(ctx, "127.0.0.1", "edgeHub", []string{a, b}, ca.pool, time.Second)
		if err == nil || ep != "" || chain != nil {
			t.Fatalf("got %q, %v, %v; want an error", ep, chain, err)
		}
		for _, p := range []string{a, b} {
			if !strings.Contains(err.Error(), "127.0.0.1:"+p+": ") || !strings.Contains(err.Error(), "connection refused") {
				t.Errorf("error %q should name 127.0.0.1:%s and why", err, p)
			}
		}
	})
}

func slicesEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
