package facts

import (
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
)

// TestGatherNetwork runs a whole Gather against a fake engine whose edgeHub
// (at 127.0.0.1) names an IoT Hub that does not resolve and uses Mqtt, with
// modules from registries on loopback ports: the probe targets come from the
// containers, certificates are read from edgeHub's address, and the whole
// Gather stays bounded by the probe timeout.
func TestGatherNetwork(t *testing.T) {
	ca := newTestCA(t, "Contoso Edge CA dev1")
	hubPort, _ := tlsServer(t, ca.leaf(t, "dev1.example.com", "edgeHub"))
	regPort, _ := tlsServer(t, ca.leaf(t, "127.0.0.1"))
	silent := blackhole(t)
	const timeout = 300 * time.Millisecond

	f := moduleFake(t, `{"azure-iot-edge":{"IPAddress":"127.0.0.1"}}`, `{"azure-iot-edge":{"IPAddress":"127.0.0.1"}}`)
	hubID := f.list[0].ID
	hub := f.inspect[hubID]
	cfg := *hub.Config
	cfg.Env = append(append([]string(nil), cfg.Env...), "IOTEDGE_IOTHUBHOSTNAME=nohost.invalid", "UpstreamProtocol=Mqtt")
	hub.Config = &cfg
	f.inspect[hubID] = hub
	for i, img := range []string{"127.0.0.1:" + regPort + "/filter:2.3.1", "127.0.0.1:" + silent + "/sensor:1.2.3"} {
		id := []string{"c1", "c2"}[i]
		ic := decodeInspect(t, `{"Id": "`+id+`", "Name": "/m`+id+`", "State": {"Status": "running", "Running": true},
		  "Config": {"Image": "`+img+`", "Labels": {"net.azure-devices.edge.owner": "Microsoft.Azure.Devices.Edge.Agent"}}}`)
		f.inspect[id] = ic
		f.list = append(f.list, container.Summary{ID: id, Names: []string{"/m" + id}})
	}

	closed := closedPort(t)
	g := NewGatherer(Config{
		EdgeHubMetrics:   "http://127.0.0.1:" + closed + "/metrics",
		EdgeAgentMetrics: "http://127.0.0.1:" + closed + "/metrics",
		MetricsExplicit:  true,
	}, f, nil)
	g.Environ = func() []string { return []string{"IOTEDGE_MODULEID=readiness"} }
	g.DaemonJSONPath = ""
	g.ProbeTimeout = timeout
	g.ProbeRoots = ca.pool
	g.EdgeHubTLSPorts = []string{silent, hubPort}

	start := time.Now()
	s := g.Gather(context.Background())
	elapsed := time.Since(start)
	// Certificates: one silent port (a timeout), then the chain; probes in
	// parallel (a timeout); the clock (a DNS failure). Ten timeouts is ample.
	if elapsed > 10*timeout {
		t.Errorf("Gather took %v with a probe timeout of %v", elapsed, timeout)
	}
	if s.DockerError != "" {
		t.Fatalf("DockerError %q", s.DockerError)
	}

	t.Run("probe targets", func(t *testing.T) {
		got := map[string]Probe{}
		var keys []string
		for _, p := range s.Probes {
			k := p.Purpose + " " + p.Host + ":" + p.Port
			got[k] = p
			keys = append(keys, k)
		}
		sort.Strings(keys)
		want := []string{
			"iothub nohost.invalid:8883", // edgeHub's IOTEDGE_IOTHUBHOSTNAME, on Mqtt's port
			"registry 127.0.0.1:" + regPort,
			"registry 127.0.0.1:" + silent,
			"registry mcr.microsoft.com:443", // edgeHub's and edgeAgent's images
		}
		sort.Strings(want)
		if strings.Join(keys, "|") != strings.Join(want, "|") {
			t.Fatalf("probes %v, want %v", keys, want)
		}
		if p := got["iothub nohost.invalid:8883"]; !strings.Contains(p.DNSError, "no such host") || p.OK() {
			t.Errorf("IoT Hub probe %+v, want a DNS error", p)
		}
		if p := got["registry 127.0.0.1:"+regPort]; !p.OK() {
			t.Errorf("registry on its own port: %+v, want a handshake", p)
		}
		if p := got["registry 127.0.0.1:"+silent]; p.TLSError == "" {
			t.Errorf("silent registry: %+v, want a TLS error", p)
		}
	})

	t.Run("certificates", func(t *testing.T) {
		c := s.Certs
		if c == nil {
			t.Fatal("no certificates")
		}
		if c.EdgeHubEndpoint != "127.0.0.1:"+hubPort || c.EdgeHubError != "" || c.EdgeHubVerifyError != "" {
			t.Errorf("endpoint %q, error %q, verify error %q: want the second port, verified for EdgeDeviceHostName",
				c.EdgeHubEndpoint, c.EdgeHubError, c.EdgeHubVerifyError)
		}
		if len(c.EdgeHubChain) != 2 || c.EdgeHubChain[1].CommonName != "Contoso Edge CA dev1" {
			t.Errorf("chain %+v", c.EdgeHubChain)
		}
		if c.TrustBundle != nil || c.TrustBundleError != "" {
			t.Errorf("trust bundle %v %q, want none outside module mode", c.TrustBundle, c.TrustBundleError)
		}
	})

	t.Run("clock", func(t *testing.T) {
		if s.Clock == nil || s.Clock.Source != "https://nohost.invalid/" || !strings.Contains(s.Clock.Error, "no such host") {
			t.Errorf("clock %+v, want a DNS error from https://nohost.invalid/", s.Clock)
		}
	})
}

// TestGatherNetworkNothingKnown: without edgeHub and IoT Edge environment,
// nothing is probed and the certificates say why.
func TestGatherNetworkNothingKnown(t *testing.T) {
	g := NewGatherer(Config{EdgeHubMetrics: "http://127.0.0.1:1/metrics", EdgeAgentMetrics: "http://127.0.0.1:1/metrics", MetricsExplicit: true},
		&fakeDocker{host: "unix:///var/run/docker.sock"}, nil)
	g.Environ = func() []string { return nil }
	g.DaemonJSONPath = ""
	g.ProbeTimeout = 300 * time.Millisecond
	s := g.Gather(context.Background())
	if len(s.Probes) != 0 || s.Clock != nil {
		t.Errorf("probes %v, clock %v: want none", s.Probes, s.Clock)
	}
	if s.Certs == nil || !strings.Contains(s.Certs.EdgeHubError, "edgeHub's address is unknown") {
		t.Errorf("certs %+v", s.Certs)
	}
}
