package facts

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
)

// parentServer plays a parent device's API proxy: HTTPS with cert on
// 127.0.0.1, answering /v2/ with status.
func parentServer(t *testing.T, cert tls.Certificate, status int) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v2/" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	return port
}

func TestProbeParent(t *testing.T) {
	ca := newTestCA(t, "Contoso parent Edge CA")
	other := newTestCA(t, "Someone else's CA")
	const timeout = 2 * time.Second
	ctx := context.Background()

	t.Run("a parent with a certificate for its address, verified by the trust bundle", func(t *testing.T) {
		mqtt, _ := tlsServer(t, ca.leaf(t, "127.0.0.1"))
		https := parentServer(t, ca.leaf(t, "127.0.0.1"), http.StatusUnauthorized)
		eps, reg, skipped := ProbeParent(ctx, "127.0.0.1", ParentPorts{MQTT: mqtt, HTTPS: https}, ca.pool, timeout)
		for _, ep := range eps {
			if ep.Error != "" || ep.VerifyError != "" || ep.NameError != "" || !strings.Contains(strings.Join(ep.CertNames, ","), "127.0.0.1") {
				t.Errorf("port %s: %+v, want a verified session", ep.Port, ep)
			}
		}
		if reg == nil || reg.Status != http.StatusUnauthorized || skipped != "" {
			t.Errorf("registry %+v (skipped %q), want 401", reg, skipped)
		}
	})

	t.Run("a certificate for another name: the name fails, nothing is sent", func(t *testing.T) {
		mqtt, _ := tlsServer(t, ca.leaf(t, "gateway.contoso.local"))
		https := parentServer(t, ca.leaf(t, "gateway.contoso.local"), http.StatusOK)
		eps, reg, skipped := ProbeParent(ctx, "127.0.0.1", ParentPorts{MQTT: mqtt, HTTPS: https}, ca.pool, timeout)
		for _, ep := range eps {
			if ep.Error != "" || ep.VerifyError != "" || !strings.Contains(ep.NameError, "127.0.0.1 is not a name of the parent's certificate") ||
				strings.Join(ep.CertNames, ",") != "gateway.contoso.local" {
				t.Errorf("port %s: %+v, want a name error listing gateway.contoso.local", ep.Port, ep)
			}
		}
		if reg != nil || !strings.Contains(skipped, "did not verify") {
			t.Errorf("registry %+v (skipped %q): nothing may be sent over an unverified session", reg, skipped)
		}
	})

	t.Run("a chain from another CA does not verify", func(t *testing.T) {
		mqtt, _ := tlsServer(t, other.leaf(t, "127.0.0.1"))
		eps, _, _ := ProbeParent(ctx, "127.0.0.1", ParentPorts{MQTT: mqtt, HTTPS: closedPort(t)}, ca.pool, timeout)
		if !strings.Contains(eps[0].VerifyError, "unknown authority") || eps[0].NameError != "" {
			t.Errorf("MQTT %+v, want an unknown authority", eps[0])
		}
		if eps[1].Error == "" {
			t.Errorf("HTTPS on a closed port %+v, want an error", eps[1])
		}
	})

	t.Run("an API proxy answering 502", func(t *testing.T) {
		mqtt, _ := tlsServer(t, ca.leaf(t, "127.0.0.1"))
		https := parentServer(t, ca.leaf(t, "127.0.0.1"), http.StatusBadGateway)
		_, reg, _ := ProbeParent(ctx, "127.0.0.1", ParentPorts{MQTT: mqtt, HTTPS: https}, ca.pool, timeout)
		if reg == nil || reg.Status != http.StatusBadGateway {
			t.Errorf("registry %+v, want 502", reg)
		}
	})
}

// TestGatherParent: a Gather whose edgeHub names a parent probes it on the
// configured ports; one without a parent records that it has none.
func TestGatherParent(t *testing.T) {
	ca := newTestCA(t, "Contoso parent Edge CA")
	mqtt, _ := tlsServer(t, ca.leaf(t, "parent.contoso.local"))
	https := parentServer(t, ca.leaf(t, "parent.contoso.local"), http.StatusOK)
	gather := func(parent string) *Snapshot {
		f := moduleFake(t, `{"azure-iot-edge":{"IPAddress":"127.0.0.1"}}`, `{"azure-iot-edge":{"IPAddress":"127.0.0.1"}}`)
		if parent != "" {
			hubID := f.list[0].ID
			hub := f.inspect[hubID]
			cfg := *hub.Config
			cfg.Env = append(append([]string(nil), cfg.Env...), "IOTEDGE_PARENTHOSTNAME="+parent)
			hub.Config = &cfg
			f.inspect[hubID] = hub
		}
		closed := closedPort(t)
		g := NewGatherer(Config{EdgeHubMetrics: "http://127.0.0.1:" + closed + "/metrics",
			EdgeAgentMetrics: "http://127.0.0.1:" + closed + "/metrics", MetricsExplicit: true}, f, nil)
		g.Environ = func() []string { return nil }
		g.DaemonJSONPath = ""
		g.ProbeTimeout = time.Second
		g.ProbeRoots = ca.pool
		g.EdgeHubTLSPorts = []string{closed}
		g.ParentPorts = ParentPorts{MQTT: mqtt, HTTPS: https}
		return g.Gather(context.Background())
	}
	s := gather("127.0.0.1")
	p := s.Parent
	if p == nil || p.Host != "127.0.0.1" || p.From != "edgeHub's env" || p.Roots != "configured roots" || len(p.Endpoints) != 2 {
		t.Fatalf("parent %+v", p)
	}
	if !strings.Contains(p.Endpoints[0].NameError, "127.0.0.1 is not a name") || p.Registry != nil {
		t.Errorf("parent %+v, want a name error and no registry request", p)
	}
	if s := gather(""); s.Parent == nil || s.Parent.Host != "" || len(s.Parent.Endpoints) != 0 {
		t.Errorf("without a parent: %+v, want an empty probe", s.Parent)
	}
}

func TestConvertHealth(t *testing.T) {
	env := map[string]string{"ApiKey": "k3y-Abcdefghij0123456789", "Mode": "fast"}
	h := convertHealth(&container.Health{Status: container.Unhealthy, FailingStreak: 7, Log: []*container.HealthcheckResult{
		{ExitCode: 0, Output: "fine"},
		{ExitCode: 1, End: time.Date(2026, 12, 7, 10, 0, 0, 0, time.FixedZone("x", 3600)),
			Output: "\n  GET /health?key=k3y-Abcdefghij0123456789 failed: HostName=h;SharedAccessKey=c2VjcmV0Cg==\nsecond line " + strings.Repeat("x", 300)},
	}}, env)
	if h.Status != "unhealthy" || h.FailingStreak != 7 || h.LastExitCode != 1 || h.LastEnd.Location() != time.UTC {
		t.Fatalf("health %+v", h)
	}
	if strings.Contains(h.LastOutput, "k3y-Abcdefghij0123456789") || strings.Contains(h.LastOutput, "c2VjcmV0Cg==") ||
		strings.Contains(h.LastOutput, "second line") || !strings.HasPrefix(h.LastOutput, "GET /health?key=") {
		t.Errorf("last output %q: want the first line with the secrets masked", h.LastOutput)
	}
	long := convertHealth(&container.Health{Status: container.Unhealthy, Log: []*container.HealthcheckResult{{Output: strings.Repeat("é", 300)}}}, nil)
	if len(long.LastOutput) > MaxHealthOutput+len("…") || !strings.HasSuffix(long.LastOutput, "…") {
		t.Errorf("a long output kept %d bytes", len(long.LastOutput))
	}
	for _, none := range []*container.Health{nil, {Status: container.NoHealthcheck}} {
		if got := convertHealth(none, nil); got != nil {
			t.Errorf("convertHealth(%+v) = %+v, want nil", none, got)
		}
	}
}
