package facts

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// datadogEdgeHub is a real edgeHub metrics page (provenance in
// testdata/SOURCES.md at the repository root).
const datadogEdgeHub = "../../testdata/real/datadog-azure_iot_edge-edge_hub.txt"

// metricsServer serves the file at path on /metrics and counts requests.
func metricsServer(t *testing.T, path string) (*httptest.Server, *int) {
	t.Helper()
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	n := new(int)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		*n++
		mu.Unlock()
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv, n
}

func serverPort(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Port()
}

// moduleFake is an engine whose module containers edgeHub and edgeAgent
// have the given networks (JSON of NetworkSettings.Networks).
func moduleFake(t testing.TB, hubNets, agentNets string) *fakeDocker {
	f := healthyFake(t)
	for id, nets := range map[string]string{f.list[0].ID: hubNets, "a1": agentNets} {
		ic := f.inspect[id]
		ic.NetworkSettings = decodeInspect(t, `{"NetworkSettings":{"Networks":`+nets+`}}`).NetworkSettings
		f.inspect[id] = ic
	}
	return f
}

// TestGatherHostFallback runs the module "on the host": the default names do
// not resolve (a .invalid name never does), so the scrape goes to the
// address of the container named like the URL's first label.
func TestGatherHostFallback(t *testing.T) {
	srv, hits := metricsServer(t, datadogEdgeHub)
	port := serverPort(t, srv)
	f := moduleFake(t,
		`{"bridge":{"IPAddress":"10.255.255.1"},"azure-iot-edge":{"IPAddress":"127.0.0.1"}}`,
		`{"azure-iot-edge":{"IPAddress":""},"host-net":{"IPAddress":"127.0.0.1"}}`)
	g := NewGatherer(Config{
		EdgeHubMetrics:   "http://edgeHub.invalid:" + port + "/metrics",
		EdgeAgentMetrics: "http://edgeAgent.invalid:" + port + "/metrics",
	}, f, nil)
	g.NoNetworkFacts = true // loopback only: no probes of the fake's registries and addresses
	s := g.Gather(context.Background())

	want := "http://127.0.0.1:" + port + "/metrics"
	for _, name := range []string{EdgeHub, EdgeAgent} {
		sc := s.Metrics[name]
		if !sc.OK() {
			t.Fatalf("%s: scrape failed: %s", name, sc.Error)
		}
		if sc.Endpoint != want {
			t.Errorf("%s: Endpoint = %q, want %q", name, sc.Endpoint, want)
		}
		if got := sc.Find("edgehub_messages_received_total", map[string]string{"id": "testEdgeDevice/SimulatedTemperatureSensor"}); len(got) != 1 || got[0].Value != 216 {
			t.Errorf("%s: edgehub_messages_received_total = %+v, want one sample of 216", name, got)
		}
	}
	if *hits != 2 {
		t.Errorf("server saw %d requests, want 2", *hits)
	}
}

// dnsFailDoer fails like the resolver for hosts ending in .invalid and passes
// other requests to a real client.
type dnsFailDoer struct{ next HTTPDoer }

func (d dnsFailDoer) Do(req *http.Request) (*http.Response, error) {
	if h := req.URL.Hostname(); strings.HasSuffix(h, ".invalid") {
		return nil, &url.Error{Op: "Get", URL: req.URL.String(), Err: &net.OpError{
			Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: h, IsNotFound: true},
		}}
	}
	return d.next.Do(req)
}

func TestGatherFallbackCases(t *testing.T) {
	srv, _ := metricsServer(t, datadogEdgeHub)
	port := serverPort(t, srv)
	closed := httptest.NewServer(http.NotFoundHandler())
	closedPort := serverPort(t, closed)
	closed.Close() // nothing listens there any more

	tests := []struct {
		name         string
		cfg          Config
		docker       DockerAPI
		wantOK       bool
		wantEndpoint string
		wantErr      []string
	}{
		{
			name:         "fallback works",
			cfg:          Config{EdgeHubMetrics: "http://edgeHub.invalid:" + port + "/metrics"},
			docker:       moduleFake(t, `{"azure-iot-edge":{"IPAddress":"127.0.0.1"}}`, `{}`),
			wantOK:       true,
			wantEndpoint: "http://127.0.0.1:" + port + "/metrics",
		},
		{
			name:         "explicit URL: no fallback",
			cfg:          Config{EdgeHubMetrics: "http://edgeHub.invalid:" + port + "/metrics", MetricsExplicit: true},
			docker:       moduleFake(t, `{"azure-iot-edge":{"IPAddress":"127.0.0.1"}}`, `{}`),
			wantEndpoint: "http://edgeHub.invalid:" + port + "/metrics",
			wantErr:      []string{"no such host"},
		},
		{
			name:         "fallback also fails: both attempts named",
			cfg:          Config{EdgeHubMetrics: "http://edgeHub.invalid:" + closedPort + "/metrics"},
			docker:       moduleFake(t, `{"azure-iot-edge":{"IPAddress":"127.0.0.1"}}`, `{}`),
			wantEndpoint: "http://127.0.0.1:" + closedPort + "/metrics",
			wantErr: []string{
				"http://edgeHub.invalid:" + closedPort + "/metrics", "no such host",
				"http://127.0.0.1:" + closedPort + "/metrics", "connection refused",
			},
		},
		{
			name:         "no such module container",
			cfg:          Config{EdgeHubMetrics: "http://edgeHub.invalid:" + port + "/metrics"},
			docker:       &fakeDocker{host: "unix:///var/run/docker.sock"},
			wantEndpoint: "http://edgeHub.invalid:" + port + "/metrics",
			wantErr:      []string{"no such host", "no IoT Edge module container named edgeHub"},
		},
		{
			name:    "container without an IP address",
			cfg:     Config{EdgeHubMetrics: "http://edgeHub.invalid:" + port + "/metrics"},
			docker:  moduleFake(t, `{"azure-iot-edge":{"IPAddress":""}}`, `{}`),
			wantErr: []string{"no such host", "container edgeHub has no IP address"},
		},
		{
			name:    "engine unreachable",
			cfg:     Config{EdgeHubMetrics: "http://edgeHub.invalid:" + port + "/metrics"},
			docker:  &fakeDocker{pingErr: context.DeadlineExceeded},
			wantErr: []string{"no such host", "the Docker engine did not answer"},
		},
		{
			name:         "not a DNS failure: no fallback",
			cfg:          Config{EdgeHubMetrics: "http://127.0.0.1:" + closedPort + "/metrics"},
			docker:       moduleFake(t, `{"azure-iot-edge":{"IPAddress":"127.0.0.1"}}`, `{}`),
			wantEndpoint: "http://127.0.0.1:" + closedPort + "/metrics",
			wantErr:      []string{"connection refused"},
		},
		{
			name: "a non-module container of that name is not used",
			cfg:  Config{EdgeHubMetrics: "http://edgeHub.invalid:" + port + "/metrics"},
			docker: func() DockerAPI {
				f := moduleFake(t, `{"azure-iot-edge":{"IPAddress":"127.0.0.1"}}`, `{}`)
				ic := f.inspect[f.list[0].ID]
				ic.Config.Labels = nil
				return f
			}(),
			wantErr: []string{"no IoT Edge module container named edgeHub"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.EdgeAgentMetrics = "http://127.0.0.1:" + port + "/metrics"
			g := NewGatherer(tt.cfg, tt.docker, dnsFailDoer{next: NewMetricsClient()})
			g.NoNetworkFacts = true
			sc := g.Gather(context.Background()).Metrics[EdgeHub]
			if sc.OK() != tt.wantOK {
				t.Fatalf("OK = %v (error %q), want %v", sc.OK(), sc.Error, tt.wantOK)
			}
			if tt.wantEndpoint != "" && sc.Endpoint != tt.wantEndpoint {
				t.Errorf("Endpoint = %q, want %q", sc.Endpoint, tt.wantEndpoint)
			}
			for _, sub := range tt.wantErr {
				if !strings.Contains(sc.Error, sub) {
					t.Errorf("Error = %q, want it to contain %q", sc.Error, sub)
				}
			}
		})
	}
}

// TestGatherConcurrent proves that the metrics do not wait for the engine
// when the names resolve: the engine's ping blocks until the metrics server
// has been asked for both pages.
func TestGatherConcurrent(t *testing.T) {
	body, err := os.ReadFile(datadogEdgeHub)
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	var once sync.Once
	var mu sync.Mutex
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits++
		if hits == 2 {
			once.Do(func() { close(release) })
		}
		mu.Unlock()
		_, _ = w.Write(body)
	}))
	defer srv.Close()

	f := healthyFake(t)
	f.pingWait = release
	g := NewGatherer(Config{EdgeHubMetrics: srv.URL + "/metrics", EdgeAgentMetrics: srv.URL + "/metrics"}, f, nil)
	g.CallTimeout = 3 * time.Second
	g.NoNetworkFacts = true
	s := g.Gather(context.Background())
	if s.DockerError != "" {
		t.Fatalf("DockerError = %q: the engine waited for metrics that never came, so Gather is not concurrent", s.DockerError)
	}
	if !s.Metrics[EdgeHub].OK() || !s.Metrics[EdgeAgent].OK() {
		t.Errorf("scrapes failed: %q / %q", s.Metrics[EdgeHub].Error, s.Metrics[EdgeAgent].Error)
	}
}

func TestGatherTimeAndEnv(t *testing.T) {
	srv, _ := metricsServer(t, datadogEdgeHub)
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	g := NewGatherer(Config{EdgeHubMetrics: srv.URL + "/metrics", EdgeAgentMetrics: srv.URL + "/nope"}, healthyFake(t), nil)
	g.Now = func() time.Time { return now }
	g.NoNetworkFacts = true
	g.Environ = func() []string {
		return []string{
			"PATH=/usr/bin", "IOTEDGE_DEVICEID=dev1", "IOTEDGE_WORKLOADURI=unix:///var/run/iotedge/workload.sock",
			"iotedge_lower=x", "IOTEDGE_EMPTY=", "RuntimeLogLevel=debug",
		}
	}
	s := g.Gather(context.Background())
	if !s.Time.Equal(now) {
		t.Errorf("Time = %v, want %v", s.Time, now)
	}
	wantEnv := map[string]string{
		"IOTEDGE_DEVICEID":    "dev1",
		"IOTEDGE_WORKLOADURI": "unix:///var/run/iotedge/workload.sock",
		"IOTEDGE_EMPTY":       "",
	}
	if !reflect.DeepEqual(s.Env, wantEnv) {
		t.Errorf("Env = %v, want %v", s.Env, wantEnv)
	}
	if len(s.Metrics) != 2 || !s.Metrics[EdgeHub].OK() {
		t.Fatalf("Metrics = %v, want edgeHub OK", s.Metrics)
	}
	if sc := s.Metrics[EdgeAgent]; sc.OK() || !strings.Contains(sc.Error, "404") {
		t.Errorf("edgeAgent scrape error = %q, want an HTTP 404 error", sc.Error)
	}
	if s.Engine == nil || len(s.Containers) != 2 {
		t.Errorf("docker facts missing: Engine=%v containers=%d", s.Engine, len(s.Containers))
	}
}

func TestNewGathererDefaults(t *testing.T) {
	g := NewGatherer(Config{}, nil, nil)
	if g.cfg.EdgeHubMetrics != DefaultEdgeHubMetricsURL || g.cfg.EdgeAgentMetrics != DefaultEdgeAgentMetricsURL {
		t.Errorf("default URLs = %q, %q", g.cfg.EdgeHubMetrics, g.cfg.EdgeAgentMetrics)
	}
	if g.DockerTimeout != DefaultTimeout || g.CallTimeout != DefaultCallTimeout {
		t.Errorf("timeouts = %v, %v", g.DockerTimeout, g.CallTimeout)
	}
	hc, ok := g.httpc.(*http.Client)
	if !ok || hc.Timeout != 5*time.Second {
		t.Errorf("default metrics client = %#v, want *http.Client with a 5s timeout", g.httpc)
	}
}

// TestGatherParserPanic: a page that crashes the exposition parser is a
// failed scrape; the module goes on.
func TestGatherParserPanic(t *testing.T) {
	srv, _ := metricsServer(t, "testdata/panic-braces-after-type.prom")
	g := NewGatherer(Config{EdgeHubMetrics: srv.URL + "/metrics", EdgeAgentMetrics: srv.URL + "/metrics", MetricsExplicit: true},
		healthyFake(t), nil)
	g.NoNetworkFacts = true
	s := g.Gather(context.Background())
	for _, name := range []string{EdgeHub, EdgeAgent} {
		sc := s.Metrics[name]
		if sc.OK() || !strings.Contains(sc.Error, srv.URL+"/metrics") {
			t.Errorf("%s: %+v, want an error naming the URL", name, sc)
		}
	}
	if s.Engine == nil {
		t.Error("docker facts lost")
	}
}

// countingDoer counts the requests made per host.
type countingDoer struct {
	next HTTPDoer
	mu   sync.Mutex
	n    map[string]int
}

func (c *countingDoer) Do(req *http.Request) (*http.Response, error) {
	c.mu.Lock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[req.URL.Hostname()]++
	c.mu.Unlock()
	return c.next.Do(req)
}

func (c *countingDoer) count(host string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[host]
}

// TestGatherRemembersUnresolvedNames: a metrics host that did not resolve is
// not looked up again for UnresolvedTTL (each lookup may wait out a
// resolver's timeout); the scrape goes straight to the container's address,
// and after the TTL the name is tried again.
func TestGatherRemembersUnresolvedNames(t *testing.T) {
	srv, _ := metricsServer(t, datadogEdgeHub)
	port := serverPort(t, srv)
	doer := &countingDoer{next: dnsFailDoer{next: NewMetricsClient()}}
	g := NewGatherer(Config{
		EdgeHubMetrics:   "http://edgeHub.invalid:" + port + "/metrics",
		EdgeAgentMetrics: "http://127.0.0.1:" + port + "/metrics",
	}, moduleFake(t, `{"azure-iot-edge":{"IPAddress":"127.0.0.1"}}`, `{}`), doer)
	g.NoNetworkFacts = true
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	g.Now = func() time.Time { return now }

	steps := []struct {
		advance     time.Duration
		wantLookups int // requests by the name so far
	}{
		{0, 1},                             // first cycle: looked up, failed, fell back
		{5 * time.Minute, 1},               // remembered: straight to the address
		{UnresolvedTTL - 5*time.Minute, 2}, // the TTL has passed since the failure: tried again
		{time.Minute, 2},
	}
	for i, st := range steps {
		now = now.Add(st.advance)
		sc := g.Gather(context.Background()).Metrics[EdgeHub]
		if !sc.OK() || sc.Endpoint != "http://127.0.0.1:"+port+"/metrics" {
			t.Fatalf("cycle %d: scrape %q, error %q; want the container's address", i+1, sc.Endpoint, sc.Error)
		}
		if got := doer.count("edgeHub.invalid"); got != st.wantLookups {
			t.Errorf("cycle %d: %d requests by name, want %d", i+1, got, st.wantLookups)
		}
	}

	// When the fallback fails too, the error says why the name was not tried.
	srv.Close()
	now = now.Add(time.Minute)
	sc := g.Gather(context.Background()).Metrics[EdgeHub]
	for _, want := range []string{"edgeHub.invalid did not resolve at", "not looked up again for 15m0s", "then by the container's address"} {
		if !strings.Contains(sc.Error, want) {
			t.Errorf("error %q lacks %q", sc.Error, want)
		}
	}
}
