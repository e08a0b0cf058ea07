package facts

import (
	"context"
	"crypto/x509"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/policy"
	"github.com/edge-readiness/edge-readiness/internal/workload"
)

// Defaults for Config.
const (
	// The default metrics endpoints are the policy's.
	DefaultEdgeHubMetricsURL   = policy.DefaultEdgeHubMetrics
	DefaultEdgeAgentMetricsURL = policy.DefaultEdgeAgentMetric
	// DefaultTimeout bounds the Docker source as a whole in one cycle.
	DefaultTimeout = 10 * time.Second
	// DefaultCallTimeout bounds each Docker engine call.
	DefaultCallTimeout = 5 * time.Second
	// DefaultScrapeTimeout bounds each metrics request.
	DefaultScrapeTimeout = 5 * time.Second
	// EnvPrefix selects the IoT Edge environment variables kept in Snapshot.Env.
	EnvPrefix = "IOTEDGE_"
)

// Config says where the facts come from.
type Config struct {
	// DockerHost overrides DOCKER_HOST (default unix:///var/run/docker.sock).
	DockerHost string
	// EdgeHubMetrics and EdgeAgentMetrics are the metrics URLs; empty means
	// the defaults on the azure-iot-edge network.
	EdgeHubMetrics, EdgeAgentMetrics string
	// MetricsExplicit is true when the URLs were configured, which turns off
	// the fallback to the containers' addresses when the names do not resolve.
	MetricsExplicit bool
	// Timeout bounds the Docker source in one cycle; 0 means DefaultTimeout.
	Timeout time.Duration
}

// Gatherer takes snapshots. Its exported fields may be changed before the
// first Gather, not during one.
type Gatherer struct {
	// Now is the clock that stamps snapshots.
	Now func() time.Time
	// Environ lists the process environment, as os.Environ.
	Environ func() []string
	// DaemonJSONPath is where the engine's daemon.json is read when mounted;
	// empty turns the read off.
	DaemonJSONPath string
	// NoNetworkFacts turns off certificates, probes and the clock reference.
	NoNetworkFacts bool
	// NoProbes turns off the probes of IoT Hub and registries and the clock
	// reference (air-gapped runs); edgeHub's certificates are still read.
	NoProbes bool
	// ProbeTimeout bounds each probe (DNS and TLS handshake together).
	ProbeTimeout time.Duration
	// ProbeRoots verifies IoT Hub and registries (nil: the system roots).
	ProbeRoots *x509.CertPool
	// ParentPorts are the ports a child device's parent is probed on.
	ParentPorts ParentPorts
	// EdgeHubTLSPorts are tried in order to read edgeHub's certificate chain.
	EdgeHubTLSPorts []string
	// DockerTimeout bounds the Docker source as a whole; CallTimeout bounds
	// each engine call within it.
	DockerTimeout, CallTimeout time.Duration
	// ScrapeTimeout bounds each metrics request.
	ScrapeTimeout time.Duration

	cfg       Config
	docker    DockerAPI
	dockerErr error // why docker is nil, when known
	httpc     HTTPDoer

	wlMu sync.Mutex
	wl   *workload.Client // made on first use, reused by every cycle

	unresolvedMu sync.Mutex
	unresolved   map[string]time.Time // metrics host -> when it last failed to resolve
}

// NewGatherer returns a Gatherer reading the engine through docker and the
// metrics through httpc. docker may be nil when no client could be created:
// each snapshot then carries a DockerError. A nil httpc means
// NewMetricsClient().
func NewGatherer(cfg Config, docker DockerAPI, httpc HTTPDoer) *Gatherer {
	if cfg.EdgeHubMetrics == "" {
		cfg.EdgeHubMetrics = DefaultEdgeHubMetricsURL
	}
	if cfg.EdgeAgentMetrics == "" {
		cfg.EdgeAgentMetrics = DefaultEdgeAgentMetricsURL
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if httpc == nil {
		httpc = NewMetricsClient()
	}
	return &Gatherer{
		Now:             time.Now,
		Environ:         os.Environ,
		DaemonJSONPath:  DefaultDaemonJSON,
		ProbeTimeout:    DefaultProbeTimeout,
		EdgeHubTLSPorts: []string{"8883", "5671", "443"},
		ParentPorts:     DefaultParentPorts,
		DockerTimeout:   cfg.Timeout,
		CallTimeout:     min(DefaultCallTimeout, cfg.Timeout),
		ScrapeTimeout:   DefaultScrapeTimeout,
		cfg:             cfg,
		docker:          docker,
		httpc:           httpc,
	}
}

// OpenGatherer creates the Docker client from cfg and returns a Gatherer with
// the default metrics client. A client that cannot be created is not an
// error here: every snapshot says why in DockerError. Close releases the client.
func OpenGatherer(cfg Config) *Gatherer {
	cli, err := NewDockerClient(cfg.DockerHost)
	var api DockerAPI
	if err == nil {
		api = cli // a nil *client.Client must not become a non-nil interface
	}
	g := NewGatherer(cfg, api, nil)
	g.dockerErr = err
	return g
}

// Close releases what the gatherer holds open between cycles: the Docker
// client, the workload API client and the metrics client's idle connections.
func (g *Gatherer) Close() error {
	g.wlMu.Lock()
	if g.wl != nil {
		_ = g.wl.Close()
		g.wl = nil
	}
	g.wlMu.Unlock()
	if ic, ok := g.httpc.(interface{ CloseIdleConnections() }); ok {
		ic.CloseIdleConnections()
	}
	if g.docker == nil {
		return nil
	}
	return g.docker.Close()
}

// Gather takes one snapshot: the IoT Edge environment and daemon.json, then
// every fact source concurrently. A source that fails is recorded in the
// snapshot (Snapshot.Sources); the others still run.
func (g *Gatherer) Gather(ctx context.Context) *Snapshot {
	now, environ := g.Now, g.Environ
	if now == nil {
		now = time.Now
	}
	if environ == nil {
		environ = os.Environ
	}
	env := environ()
	s := &Snapshot{SchemaVersion: SnapshotSchemaVersion, Time: now(), Env: iotedgeEnv(env)}
	if g.DaemonJSONPath != "" {
		s.DaemonJSON = ReadDaemonJSON(g.DaemonJSONPath)
	}
	runSources(ctx, s, env, g.sources())
	return s
}

// sources are the fact sources of one cycle, in the order the snapshot
// records them. A new source is one file and one line here.
func (g *Gatherer) sources() []Source {
	srcs := []Source{
		newDockerSource(g),
		&metricsSource{g: g, endpoint: EdgeHub, url: g.cfg.EdgeHubMetrics, fact: FactEdgeHubMetrics},
		&metricsSource{g: g, endpoint: EdgeAgent, url: g.cfg.EdgeAgentMetrics, fact: FactEdgeAgentMetrics},
	}
	if !g.NoNetworkFacts {
		srcs = append(srcs, &networkSource{g: g})
	}
	return srcs
}

// iotedgeEnv keeps the IOTEDGE_* variables of a process environment.
func iotedgeEnv(environ []string) map[string]string {
	var out map[string]string
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(k, EnvPrefix) {
			continue
		}
		if out == nil {
			out = make(map[string]string)
		}
		out[k] = v
	}
	return out
}
