package facts

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/distribution/reference"

	"github.com/edge-readiness/edge-readiness/internal/workload"
)

// DefaultProbeTimeout bounds one probe.
const DefaultProbeTimeout = 5 * time.Second

// protocolPort is the upstream port of each UpstreamProtocol, by its name in
// lower case.
var protocolPort = map[string]string{"amqp": "5671", "amqpws": "443", "mqtt": "8883", "mqttws": "443"}

// UpstreamPort is the port IoT Hub is reached on with an UpstreamProtocol
// (Amqp, AmqpWs, Mqtt, MqttWs, in any case); false for another value.
func UpstreamPort(protocol string) (string, bool) {
	p, ok := protocolPort[strings.ToLower(strings.TrimSpace(protocol))]
	return p, ok
}

// networkSource reads certificates, probes IoT Hub and registries and reads
// the clock reference; its targets come from the containers.
type networkSource struct{ g *Gatherer }

var _ Source = (*networkSource)(nil)

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

// gatherNetwork fills certificates, probes and the clock reference. It runs
// after the Docker facts, which name the hub, the protocol and the registries.
func (g *Gatherer) gatherNetwork(ctx context.Context, s *Snapshot, environ []string) {
	timeout := g.ProbeTimeout
	if timeout <= 0 {
		timeout = DefaultProbeTimeout
	}
	env := envMap(environ)
	hub := s.Module(EdgeHub)

	// Certificates: the trust bundle (module mode) and edgeHub's chain.
	certs := &Certs{}
	var roots = g.ProbeRoots
	rootsName := "system roots"
	if roots != nil {
		rootsName = "configured roots"
	}
	if wuri := env["IOTEDGE_WORKLOADURI"]; wuri != "" {
		if wl, err := g.workloadClient(wuri); err != nil {
			certs.TrustBundleError = err.Error()
		} else if pool, bundle, err := wl.TrustBundle(ctx); err != nil {
			certs.TrustBundleError = err.Error()
		} else {
			certs.TrustBundle = CertsFrom(bundle)
			roots, rootsName = pool, "trust bundle"
		}
	}
	host, serverName := env["IOTEDGE_GATEWAYHOSTNAME"], env["IOTEDGE_GATEWAYHOSTNAME"]
	if host == "" && hub != nil {
		host = containerIP(hub)
		serverName, _ = hub.EnvValue("EdgeDeviceHostName")
		if serverName == "" {
			serverName = EdgeHub
		}
	}
	if host != "" {
		ep, chain, verr, err := EdgeHubTLS(ctx, host, serverName, g.EdgeHubTLSPorts, roots, timeout)
		certs.EdgeHubEndpoint, certs.EdgeHubChain, certs.EdgeHubVerifyError = ep, chain, verr
		if err != nil {
			certs.EdgeHubError = err.Error()
		}
	} else {
		certs.EdgeHubError = "edgeHub's address is unknown: no IOTEDGE_GATEWAYHOSTNAME and no edgeHub container"
	}
	s.Certs = certs

	if g.NoProbes {
		s.ProbesOff = "network probes are turned off (--no-probes)"
		return
	}

	// Probes: IoT Hub (or the parent device) on the upstream port, and registries on 443.
	upstream := env["IOTEDGE_PARENTHOSTNAME"]
	hubName := env["IOTEDGE_IOTHUBHOSTNAME"]
	if hub != nil {
		if upstream == "" {
			upstream, _ = hub.EnvValue("IOTEDGE_PARENTHOSTNAME")
		}
		if hubName == "" {
			hubName, _ = hub.EnvValue("IOTEDGE_IOTHUBHOSTNAME")
		}
	}
	if upstream == "" {
		upstream = hubName
	}
	var targets []ProbeTarget
	if upstream != "" {
		port := "5671"
		if hub != nil {
			if v, ok := hub.EnvValue("UpstreamProtocol"); ok {
				if p, ok := UpstreamPort(v); ok {
					port = p
				}
			}
		}
		targets = append(targets, ProbeTarget{Purpose: "iothub", Host: upstream, Port: port})
	}
	for _, r := range registries(s) {
		host, port := r, "443"
		if h, p, err := net.SplitHostPort(r); err == nil { // a registry on its own port: myregistry.local:5000
			host, port = h, p
		}
		targets = append(targets, ProbeTarget{Purpose: "registry", Host: host, Port: port})
	}
	proxy := proxyFromEnv(env)
	p := &Prober{Timeout: timeout, Roots: g.ProbeRoots, Proxy: proxy}
	if upstream != "" && upstream != hubName { // nested: the parent presents the trust bundle's chain
		p.Roots = roots
	}
	// The parent of a child device, alongside the other probes: TLS on its
	// ports and its registry API proxy.
	parent := &ParentProbe{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if host, from := parentHost(s, env); host != "" {
			ports := g.ParentPorts
			if ports.MQTT == "" || ports.HTTPS == "" {
				ports = DefaultParentPorts
			}
			parent.Host, parent.From, parent.Roots = host, from, rootsName
			parent.Endpoints, parent.Registry, parent.RegistrySkipped = ProbeParent(ctx, host, ports, roots, timeout)
		}
	}()
	s.Probes = p.Run(ctx, targets)
	<-done
	s.Parent = parent

	// Clock reference: the Date of an HTTPS answer from IoT Hub.
	if hubName != "" {
		// One request a cycle: no connection is kept between cycles.
		tr := &http.Transport{Proxy: func(*http.Request) (*url.URL, error) { return proxy, nil }, DisableKeepAlives: true}
		if g.ProbeRoots != nil {
			tr.TLSClientConfig = tlsConfigWithRoots(g.ProbeRoots)
		}
		c := &http.Client{Timeout: timeout, Transport: tr}
		s.Clock = ReadClock(ctx, c, "https://"+hubName+"/", time.Now)
		tr.CloseIdleConnections()
	}
}

// workloadClient returns the gatherer's workload API client for uri, made
// once and reused by every cycle: a client per cycle would leave a kept-alive
// connection (and its goroutines and buffers) behind each time.
func (g *Gatherer) workloadClient(uri string) (*workload.Client, error) {
	g.wlMu.Lock()
	defer g.wlMu.Unlock()
	if g.wl != nil && g.wl.URI() == uri {
		return g.wl, nil
	}
	wl, err := workload.New(uri)
	if err != nil {
		return nil, err
	}
	if g.wl != nil {
		_ = g.wl.Close()
	}
	g.wl = wl
	return wl, nil
}

// registries lists the registry hosts the modules' images come from.
func registries(s *Snapshot) []string {
	seen := map[string]bool{}
	for _, m := range s.Modules() {
		named, err := reference.ParseNormalizedNamed(m.OriginalImage())
		if err != nil {
			continue
		}
		d := reference.Domain(named)
		if d == "docker.io" {
			d = "registry-1.docker.io"
		}
		seen[d] = true
	}
	out := make([]string, 0, len(seen))
	for d := range seen {
		out = append(out, d)
	}
	sort.Strings(out)
	return out
}

func envMap(environ []string) map[string]string {
	m := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

func proxyFromEnv(env map[string]string) *url.URL {
	for _, k := range []string{"https_proxy", "HTTPS_PROXY"} {
		if v := env[k]; v != "" {
			if !strings.Contains(v, "://") {
				v = "http://" + v
			}
			if u, err := url.Parse(v); err == nil && u.Host != "" {
				return u
			}
		}
	}
	return nil
}
