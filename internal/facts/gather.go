package facts

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
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

// UnresolvedTTL is how long a metrics host name that did not resolve is
// not looked up again: the scrapes go straight to the container's address.
// On the host (check, or module mode outside the azure-iot-edge network)
// edgeHub and edgeAgent never resolve, and a resolver that drops one query
// in a few dozen makes the lookup wait its whole timeout (5 s by default):
// looking the names up every cycle made one cycle in twenty take 5 s.
const UnresolvedTTL = 15 * time.Minute

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

// NewMetricsClient returns the HTTP client used for the metrics endpoints: a
// 5 s timeout, no proxy (the endpoints are local), and redirects followed only
// on the same host.
func NewMetricsClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	return &http.Client{
		Timeout:   DefaultScrapeTimeout,
		Transport: tr,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("stopped after 5 redirects")
			}
			if req.URL.Host != via[0].URL.Host {
				return fmt.Errorf("refusing redirect to another host (%s)", req.URL.Host)
			}
			return nil
		},
	}
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
		&engineSource{g: g},
		&metricsSource{g: g, endpoint: EdgeHub, url: g.cfg.EdgeHubMetrics, fact: FactEdgeHubMetrics},
		&metricsSource{g: g, endpoint: EdgeAgent, url: g.cfg.EdgeAgentMetrics, fact: FactEdgeAgentMetrics},
	}
	if !g.NoNetworkFacts {
		srcs = append(srcs, &networkSource{g: g})
	}
	return srcs
}

// engineSource is the Docker engine: engine inventory and containers.
type engineSource struct{ g *Gatherer }

func (e *engineSource) Name() string { return SourceDocker }

func (e *engineSource) Gather(ctx context.Context, run *Run) SourceRun {
	s := run.Snap
	e.g.gatherDocker(ctx, s)
	if s.DockerError != "" {
		return SourceRun{Status: StatusError, Reason: s.DockerError,
			Facts: factStates(StatusError, s.DockerError, FactEngine, FactEngineInventory, FactContainers)}
	}
	sr := SourceRun{Status: StatusOK, Facts: factStates(StatusOK, "", FactEngine, FactEngineInventory, FactContainers), Partial: s.PartialErrors}
	for _, p := range s.PartialErrors {
		if strings.HasPrefix(p, listingContainers) {
			sr.Facts[FactContainers] = FactState{Status: StatusError, Reason: p}
		}
	}
	return sr
}

// metricsSource scrapes one runtime metrics endpoint.
type metricsSource struct {
	g        *Gatherer
	endpoint string // EdgeHub or EdgeAgent
	url      string
	fact     Fact
}

func (m *metricsSource) Name() string { return SourceMetrics + ":" + m.endpoint }

func (m *metricsSource) Gather(ctx context.Context, run *Run) SourceRun {
	sc := m.g.scrapeMetrics(ctx, m.url, func() bool { return run.Wait(ctx, SourceDocker) }, run.Snap)
	run.SetMetrics(m.endpoint, sc)
	if !sc.OK() {
		return SourceRun{Status: StatusError, Reason: sc.Error, Facts: factStates(StatusError, sc.Error, m.fact)}
	}
	return SourceRun{Status: StatusOK, Facts: factStates(StatusOK, "", m.fact)}
}

// networkSource reads certificates, probes IoT Hub and registries and reads
// the clock reference; its targets come from the containers.
type networkSource struct{ g *Gatherer }

func (n *networkSource) Name() string { return "network" }

func (n *networkSource) Gather(ctx context.Context, run *Run) SourceRun {
	run.Wait(ctx, SourceDocker)
	s := run.Snap
	n.g.gatherNetwork(ctx, s, run.Environ)
	sr := SourceRun{Status: StatusOK, Facts: factStates(StatusOK, "", FactCerts, FactProbes)}
	if s.ProbesOff != "" {
		sr.Facts[FactProbes] = FactState{Status: StatusNotApplicable, Reason: s.ProbesOff}
	}
	return sr
}

// gatherDocker fills the Docker fields of s.
func (g *Gatherer) gatherDocker(ctx context.Context, s *Snapshot) {
	host := dockerHostName(g.cfg.DockerHost, g.docker)
	if g.docker == nil {
		if g.dockerErr != nil {
			s.DockerError = g.dockerErr.Error() // names the host already
		} else {
			s.DockerError = "no Docker client configured for " + host
		}
		return
	}
	overall := g.DockerTimeout
	if overall <= 0 {
		overall = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, overall)
	defer cancel()
	callTimeout := g.CallTimeout
	if callTimeout <= 0 {
		callTimeout = overall
	}
	src := dockerSource{api: g.docker, host: host, callTimeout: callTimeout}
	src.fill(ctx, s)
}

// scrapeMetrics reads one endpoint. When the configured URL is the default
// and its host name does not resolve (the module runs on the host, not on
// the azure-iot-edge network), it waits for the containers and retries on
// the address of the module container named like the URL's host.
func (g *Gatherer) scrapeMetrics(ctx context.Context, rawURL string, waitDocker func() bool, s *Snapshot) *Scrape {
	host := urlHost(rawURL)
	var sc *Scrape
	if since, ok := g.recentlyUnresolved(host, s.Time); ok && !g.cfg.MetricsExplicit {
		sc = &Scrape{Endpoint: rawURL, Time: s.Time, Error: fmt.Sprintf(
			"%s did not resolve at %s (not looked up again for %s)", host, since.UTC().Format(time.RFC3339), UnresolvedTTL)}
	} else {
		rec := &errRecorder{doer: g.httpc}
		sc = g.scrape(ctx, rec, rawURL)
		var dnsErr *net.DNSError
		if sc.OK() || g.cfg.MetricsExplicit || !errors.As(rec.err, &dnsErr) {
			return sc
		}
		g.markUnresolved(host, s.Time)
	}

	if !waitDocker() {
		why := "the engine source did not run"
		if ctx.Err() != nil {
			why = ctx.Err().Error()
		}
		sc.Error += "; no fallback to the container's address: " + why
		return sc
	}
	alt, why := fallbackURL(rawURL, s)
	if alt == "" {
		sc.Error += "; no fallback to the container's address: " + why
		return sc
	}
	sc2 := g.scrape(ctx, g.httpc, alt)
	if !sc2.OK() {
		sc2.Error = sc.Error + "; then by the container's address: " + sc2.Error
	}
	return sc2
}

// scrape reads one endpoint under ScrapeTimeout. A page that makes the
// parser panic (prometheus/common v0.66 does on "{}", fixed upstream by
// prometheus/common#922) is a failed scrape, not a crashed module.
func (g *Gatherer) scrape(ctx context.Context, c HTTPDoer, rawURL string) (sc *Scrape) {
	defer func() {
		if r := recover(); r != nil {
			sc = &Scrape{Endpoint: rawURL, Time: time.Now(),
				Error: fmt.Sprintf("parsing metrics from %s: parser panic: %v", rawURL, r)}
		}
	}()
	if g.ScrapeTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, g.ScrapeTimeout)
		defer cancel()
	}
	return ScrapeURL(ctx, c, rawURL)
}

// recentlyUnresolved tells whether host failed to resolve less than
// UnresolvedTTL before now, and when.
func (g *Gatherer) recentlyUnresolved(host string, now time.Time) (time.Time, bool) {
	g.unresolvedMu.Lock()
	defer g.unresolvedMu.Unlock()
	t, ok := g.unresolved[strings.ToLower(host)]
	if !ok || now.Sub(t) >= UnresolvedTTL || now.Before(t) {
		return time.Time{}, false
	}
	return t, true
}

func (g *Gatherer) markUnresolved(host string, now time.Time) {
	g.unresolvedMu.Lock()
	defer g.unresolvedMu.Unlock()
	if g.unresolved == nil {
		g.unresolved = map[string]time.Time{}
	}
	g.unresolved[strings.ToLower(host)] = now
}

func urlHost(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return rawURL
	}
	return u.Hostname()
}

// fallbackURL replaces the host of rawURL by the IP address of the module
// container whose name is the host's first label (edgeHub for
// http://edgeHub:9600/metrics), keeping scheme, port and path. It prefers the
// address on the azure-iot-edge network. It returns "" and a reason when
// there is none.
func fallbackURL(rawURL string, s *Snapshot) (string, string) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", err.Error()
	}
	name, _, _ := strings.Cut(u.Hostname(), ".")
	if s.Engine == nil {
		return "", "the Docker engine did not answer"
	}
	c := findModule(s, name)
	if c == nil {
		return "", fmt.Sprintf("no IoT Edge module container named %s", name)
	}
	ip := containerIP(c)
	if ip == "" {
		return "", fmt.Sprintf("container %s has no IP address (state %s)", c.Name, c.State.Status)
	}
	alt := *u
	if port := u.Port(); port != "" {
		alt.Host = net.JoinHostPort(ip, port)
	} else if strings.Contains(ip, ":") {
		alt.Host = "[" + ip + "]"
	} else {
		alt.Host = ip
	}
	return alt.String(), ""
}

// findModule finds the module container by name, exactly or else ignoring
// case (host names are case-insensitive).
func findModule(s *Snapshot, name string) *Container {
	if c := s.Module(name); c != nil {
		return c
	}
	for _, c := range s.Modules() {
		if strings.EqualFold(c.Name, name) {
			return c
		}
	}
	return nil
}

func containerIP(c *Container) string {
	if ip := c.Networks[EdgeNetwork]; ip != "" {
		return ip
	}
	names := make([]string, 0, len(c.Networks))
	for n := range c.Networks {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if ip := c.Networks[n]; ip != "" {
			return ip
		}
	}
	return ""
}

// errRecorder keeps the transport error of the request it made, so that a
// failed name resolution can be told from other failures.
type errRecorder struct {
	doer HTTPDoer
	err  error
}

func (r *errRecorder) Do(req *http.Request) (*http.Response, error) {
	resp, err := r.doer.Do(req)
	r.err = err
	return resp, err
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
