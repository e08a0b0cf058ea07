package facts

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"testing"
)

// TestMain keeps every test of this package on the loopback interface: the
// default resolver (used by the probes, the metrics client and the clock
// client) asks a DNS server on 127.0.0.1 that answers NXDOMAIN to every
// question, instead of the host's name server. /etc/hosts is still read
// first, so localhost resolves.
func TestMain(m *testing.M) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "loopback DNS:", err)
		os.Exit(1)
	}
	go serveNXDOMAIN(pc)
	addr := pc.LocalAddr().String()
	net.DefaultResolver = &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "udp", addr)
		},
	}
	code := m.Run()
	pc.Close()
	os.Exit(code)
}

// serveNXDOMAIN answers every DNS query with "no such name", echoing the question.
func serveNXDOMAIN(pc net.PacketConn) {
	buf := make([]byte, 1500)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		if n < 12 {
			continue
		}
		q := buf[:n]
		// Find the end of the first question: name labels, then type and class.
		i := 12
		for i < n && q[i] != 0 {
			i += int(q[i]) + 1
		}
		end := i + 5
		if end > n {
			continue
		}
		resp := make([]byte, end)
		copy(resp, q[:end])
		flags := binary.BigEndian.Uint16(q[2:4])
		flags = 0x8000 | (flags & 0x0100) | 0x0080 | 3 // QR, RD copied, RA, RCODE=NXDOMAIN
		binary.BigEndian.PutUint16(resp[2:4], flags)
		binary.BigEndian.PutUint16(resp[4:6], 1) // one question
		binary.BigEndian.PutUint16(resp[6:8], 0)
		binary.BigEndian.PutUint16(resp[8:10], 0)
		binary.BigEndian.PutUint16(resp[10:12], 0)
		_, _ = pc.WriteTo(resp, from)
	}
}

// TestLoopbackDNS proves the guard: a name outside /etc/hosts does not resolve,
// and localhost still does.
func TestLoopbackDNS(t *testing.T) {
	_, err := net.DefaultResolver.LookupHost(context.Background(), "nohost.invalid")
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
		t.Errorf("LookupHost(nohost.invalid) = %v, want a not-found DNS error", err)
	}
	addrs, err := net.DefaultResolver.LookupHost(context.Background(), "localhost")
	if err != nil || len(addrs) == 0 {
		t.Errorf("LookupHost(localhost) = %v, %v", addrs, err)
	}
}
