package checks_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/facts"
	"github.com/edge-readiness/edge-readiness/internal/policy"
)

// probeOf returns the snapshot's first probe for purpose; the good device has
// one for iothub and one for registry.
func probeOf(s *facts.Snapshot, purpose string) *facts.Probe {
	for i := range s.Probes {
		if s.Probes[i].Purpose == purpose {
			return &s.Probes[i]
		}
	}
	panic("test snapshot has no " + purpose + " probe")
}

const hubAddr = "contoso-hub.azure-devices.net:5671"

func TestUpstreamConnectivity(t *testing.T) {
	runCases(t, "upstream-connectivity", []checkCase{
		{
			name: "good device",
			want: []want{{subject: hubAddr, status: checks.Pass, severity: policy.Critical,
				msg: "TLS handshake with contoso-hub.azure-devices.net:5671 in 48 ms"}},
		},
		{
			name: "IoT Hub does not resolve",
			mutate: func(s *facts.Snapshot) {
				p := probeOf(s, "iothub")
				p.Addrs, p.DNSError = nil, "lookup contoso-hub.azure-devices.net on 127.0.0.11:53: no such host"
			},
			want: []want{{subject: hubAddr, status: checks.Fail, severity: policy.Critical,
				msg: "contoso-hub.azure-devices.net cannot be resolved: lookup contoso-hub.azure-devices.net on 127.0.0.11:53: no such host"}},
		},
		{
			name:   "the port is blocked: the handshake times out",
			mutate: func(s *facts.Snapshot) { probeOf(s, "iothub").TLSError = "context deadline exceeded" },
			want: []want{{subject: hubAddr, status: checks.Fail,
				msg: "no TLS handshake with contoso-hub.azure-devices.net:5671: context deadline exceeded"}},
		},
		{
			name: "WebSocket through the proxy",
			mutate: func(s *facts.Snapshot) {
				p := probeOf(s, "iothub")
				p.Port, p.ViaProxy, p.Addrs = "443", true, nil
			},
			want: []want{{subject: "contoso-hub.azure-devices.net:443", status: checks.Pass,
				msg: "TLS handshake with contoso-hub.azure-devices.net:443 through the proxy in 48 ms"}},
		},
		{
			name: "the proxy refuses the tunnel",
			mutate: func(s *facts.Snapshot) {
				p := probeOf(s, "iothub")
				p.Port, p.ViaProxy, p.Addrs = "443", true, nil
				p.TLSError = "proxy CONNECT contoso-hub.azure-devices.net:443: 407 Proxy Authentication Required"
			},
			want: []want{{subject: "contoso-hub.azure-devices.net:443", status: checks.Fail, msg: "through the proxy: proxy CONNECT"}},
		},
		{
			name:   "no IoT Hub hostname known: skip",
			mutate: func(s *facts.Snapshot) { s.Probes = s.Probes[1:] },
			want:   []want{{status: checks.Skip, msg: "the IoT Hub hostname is unknown"}},
		},
		{
			name:   "probes not run: error",
			mutate: func(s *facts.Snapshot) { s.Probes, s.Clock, s.Certs = nil, nil, nil },
			want:   []want{{status: checks.Error, severity: policy.Critical, msg: "cannot decide without network probes: not run"}},
		},
		{
			name:   "the development profile keeps it critical",
			mutate: func(s *facts.Snapshot) { probeOf(s, "iothub").TLSError = "connection refused" },
			policy: `{"profile":"development"}`,
			want:   []want{{subject: hubAddr, status: checks.Fail, severity: policy.Critical, msg: "connection refused"}},
		},
	})
}

func TestRegistryConnectivity(t *testing.T) {
	runCases(t, "registry-connectivity", []checkCase{
		{
			name: "good device",
			want: []want{{subject: "contoso.azurecr.io:443", status: checks.Pass, severity: policy.Warning, msg: "TLS handshake with contoso.azurecr.io:443 in 35 ms"}},
		},
		{
			name: "one registry of two fails",
			mutate: func(s *facts.Snapshot) {
				s.Probes = append(s.Probes, facts.Probe{Purpose: "registry", Host: "mcr.microsoft.com", Port: "443",
					Addrs: []string{"203.0.113.30"}, TLSError: "tls: failed to verify certificate: x509: certificate signed by unknown authority"})
			},
			want: []want{{subject: "mcr.microsoft.com:443", status: checks.Fail, severity: policy.Warning,
				msg: "no TLS handshake with mcr.microsoft.com:443: tls: failed to verify certificate"}},
		},
		{
			name: "a registry on its own port",
			mutate: func(s *facts.Snapshot) {
				s.Probes = append(s.Probes, facts.Probe{Purpose: "registry", Host: "registry.line3.local", Port: "5000", DNSError: "no such host"})
			},
			want: []want{{subject: "registry.line3.local:5000", status: checks.Fail, msg: "registry.line3.local cannot be resolved: no such host"}},
		},
		{
			name:   "no registry probed: skip",
			mutate: func(s *facts.Snapshot) { s.Probes = s.Probes[:1] },
			want:   []want{{status: checks.Skip, msg: "no registry to probe"}},
		},
		{
			name:   "the development profile reports it as info",
			mutate: func(s *facts.Snapshot) { probeOf(s, "registry").DNSError = "no such host" },
			policy: `{"profile":"development"}`,
			want:   []want{{subject: "contoso.azurecr.io:443", status: checks.Fail, severity: policy.Info, msg: "cannot be resolved"}},
		},
	})
}

func TestClockSkew(t *testing.T) {
	skew := func(sec float64) func(*facts.Snapshot) { return func(s *facts.Snapshot) { s.Clock.SkewSeconds = sec } }
	runCases(t, "clock-skew", []checkCase{
		{name: "good device", want: []want{{status: checks.Pass, severity: policy.Critical, msg: "the clock is within 1 s of IoT Hub's"}}},
		{name: "9.5 s passes", mutate: skew(9.5), want: []want{{status: checks.Pass, msg: "within 10 s"}}},
		{
			name: "30 s ahead fails", mutate: skew(30),
			want: []want{{status: checks.Fail, severity: policy.Critical,
				msg: "the clock is 30 s ahead of IoT Hub's (https://contoso-hub.azure-devices.net), 10 s or more"}},
		},
		{name: "12 s behind fails", mutate: skew(-12), want: []want{{status: checks.Fail, msg: "the clock is 12 s behind IoT Hub's"}}},
		{name: "exactly maxSkewSeconds fails", mutate: skew(10), want: []want{{status: checks.Fail, msg: "10 s ahead"}}},
		{
			name: "maxSkewSeconds from policy", mutate: skew(30),
			policy: `{"checks":{"clock-skew":{"params":{"maxSkewSeconds":60}}}}`,
			want:   []want{{status: checks.Pass, msg: "within 30 s"}},
		},
		{
			name:   "no reference: skip",
			mutate: func(s *facts.Snapshot) { s.Clock = nil },
			want:   []want{{status: checks.Skip, msg: "no reference time: the IoT Hub hostname is unknown"}},
		},
		{
			name: "the reference could not be read: error",
			mutate: func(s *facts.Snapshot) {
				s.Clock = &facts.Clock{Source: "https://contoso-hub.azure-devices.net/", Error: "context deadline exceeded"}
			},
			want: []want{{status: checks.Error, msg: "cannot read the reference time from https://contoso-hub.azure-devices.net/: context deadline exceeded"}},
		},
	})
}

func TestProxySettingsConsistent(t *testing.T) {
	const proxy = "http://proxy.contoso.local:3128"
	proxied := func(engine, agent, hub, protocol string) func(*facts.Snapshot) {
		return func(s *facts.Snapshot) {
			s.Engine.HTTPSProxy = engine
			for name, v := range map[string]string{"edgeAgent": agent, "edgeHub": hub} {
				if v != "" {
					setEnv(mod(s, name), "https_proxy", v)
				}
				if protocol != "" {
					setEnv(mod(s, name), "UpstreamProtocol", protocol)
				}
			}
		}
	}
	runCases(t, "proxy-settings-consistent", []checkCase{
		{name: "good device: no proxy", want: []want{{status: checks.Pass, severity: policy.Warning, msg: "no proxy is configured"}}},
		{
			name:   "one proxy everywhere with AmqpWs",
			mutate: proxied(proxy, proxy, proxy, "AmqpWs"),
			want:   []want{{status: checks.Pass, msg: "the engine, edgeAgent and edgeHub use the same proxy"}},
		},
		{
			name: "the engine reports credentials masked, as Docker's /info does",
			mutate: proxied("http://xxxxx:xxxxx@proxy.contoso.local:3128", "http://edge:s3cret@proxy.contoso.local:3128",
				"http://edge:s3cret@proxy.contoso.local:3128", "MqttWs"),
			want: []want{{status: checks.Pass, msg: "the same proxy"}},
		},
		{
			name:   "edgeHub lacks the proxy",
			mutate: proxied(proxy, proxy, "", "AmqpWs"),
			want:   []want{{status: checks.Fail, severity: policy.Warning, msg: "edgeHub's https_proxy (unset) differs from the engine's (http://proxy.contoso.local:3128)"}},
		},
		{
			name:   "a module's proxy password never shows",
			mutate: proxied(proxy, proxy, "http://edge:s3cret@other.contoso.local:3128", "AmqpWs"),
			want:   []want{{status: checks.Fail, msg: "edgeHub's https_proxy (http://xxxxx:xxxxx@other.contoso.local:3128) differs"}},
		},
		{
			name:   "a proxy with a protocol that does not go through it",
			mutate: proxied(proxy, proxy, proxy, ""),
			want: []want{{status: checks.Fail,
				msg: "edgeAgent uses a proxy with UpstreamProtocol Amqp, which does not go through it; edgeHub uses a proxy with UpstreamProtocol Amqp"}},
		},
		{
			name:   "the development profile reports it as info",
			mutate: proxied(proxy, "", "", ""),
			policy: `{"profile":"development"}`,
			want:   []want{{status: checks.Fail, severity: policy.Info, msg: "edgeAgent's https_proxy (unset) differs"}},
		},
	})

	// Evidence says only whether each proxy is set.
	s := goodDevice(t)
	proxied(proxy, proxy, "http://edge:s3cret@other.contoso.local:3128", "AmqpWs")(s)
	f := only(t, byID(runAll(s, decodePolicy(t, "")), "proxy-settings-consistent"))
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "s3cret") {
		t.Errorf("the finding carries the proxy password: %s", b)
	}
	if ev, _ := f.Evidence["httpsProxy"].(map[string]bool); !ev["engine"] || !ev["edgeAgent"] || !ev["edgeHub"] {
		t.Errorf("evidence httpsProxy = %v, want every proxy marked set", f.Evidence["httpsProxy"])
	}
}

func TestContainerEngineDNS(t *testing.T) {
	noDaemonDNS := func(s *facts.Snapshot) { s.DaemonJSON.DNS = nil }
	allModulesDNS := func(s *facts.Snapshot) {
		for _, m := range s.Modules() {
			m.DNS = []string{"192.0.2.53"}
		}
	}
	runCases(t, "container-engine-dns", []checkCase{
		{name: "good device: daemon.json sets dns", want: []want{{status: checks.Pass, severity: policy.Warning, msg: "daemon.json sets DNS servers for every container"}}},
		{
			name:   "daemon.json without dns, modules without Dns",
			mutate: noDaemonDNS,
			want: []want{{status: checks.Fail, severity: policy.Warning,
				msg: "/etc/docker/daemon.json sets no dns and 5 modules do set none: containers inherit the host's resolver"}},
		},
		{
			name:   "daemon.json without dns, but every module sets Dns",
			mutate: func(s *facts.Snapshot) { noDaemonDNS(s); allModulesDNS(s) },
			want:   []want{{status: checks.Pass, msg: "every module sets its DNS servers"}},
		},
		{
			name: "one module without Dns",
			mutate: func(s *facts.Snapshot) {
				noDaemonDNS(s)
				allModulesDNS(s)
				mod(s, "sensor").DNS = nil
			},
			want: []want{{status: checks.Fail, msg: "sets no dns and 1 module does set none"}},
		},
		{
			name:   "daemon.json not mounted, every module sets Dns",
			mutate: func(s *facts.Snapshot) { s.DaemonJSON = nil; allModulesDNS(s) },
			want:   []want{{status: checks.Pass, msg: "every module sets its DNS servers"}},
		},
		{
			name:   "daemon.json not mounted: cannot tell",
			mutate: func(s *facts.Snapshot) { s.DaemonJSON = nil },
			want:   []want{{status: checks.Skip, msg: "cannot tell the engine's DNS settings: mount /etc/docker/daemon.json read-only"}},
		},
		{
			name: "daemon.json unreadable: skip with the reason",
			mutate: func(s *facts.Snapshot) {
				s.DaemonJSON = &facts.DaemonJSON{Path: "/etc/docker/daemon.json", Error: "parsing /etc/docker/daemon.json: invalid character '}'"}
			},
			want: []want{{status: checks.Skip, msg: "/etc/docker/daemon.json is mounted but unreadable: parsing"}},
		},
	})
}
