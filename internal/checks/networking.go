package checks

import (
	"fmt"
	"math"
	"net/url"
	"strings"

	"github.com/edge-readiness/edge-readiness/internal/facts"
	"github.com/edge-readiness/edge-readiness/internal/policy"
)

func probeResult(p *facts.Probe) Result {
	r := Result{Subject: p.Host + ":" + p.Port}.with("host", p.Host).with("port", p.Port).with("latencyMs", p.LatencyMs).
		with("viaProxy", p.ViaProxy).with("addrs", p.Addrs)
	r.Message = probeMessage(p)
	if p.OK() {
		r.Status = Pass
	} else {
		r.Status = Fail
	}
	return r
}

var upstreamConnectivity = &Check{
	Meta: Meta{
		ID: "upstream-connectivity", Title: "IoT Hub is reachable",
		Section: SecNetworking, Seed: "Allow connections from IoT Edge devices", Severity: policy.Critical,
		IotedgeCheck: "container-connect-upstream-{amqp,https,mqtt}",
		Decides: "From the module's own network: IoT Hub (IOTEDGE_IOTHUBHOSTNAME, or the parent when nested) must resolve and " +
			"complete a TLS handshake on the port of edgeHub's UpstreamProtocol (5671 Amqp, 8883 Mqtt, 443 for the WebSocket " +
			"variants, through https_proxy when set), within the probe timeout.",
		Remediation: "Open the outbound port of the upstream protocol to IoT Hub in the firewall (or switch to AmqpWs/MqttWs on 443), fix DNS, or set https_proxy for the runtime and this module.",
		Reference:   seedRef("allow-connections-from-iot-edge-devices"),
		Needs:       []facts.Fact{NeedProbes},
	},
	Eval: func(in *Input) []Result {
		var out []Result
		for i := range in.Snap.Probes {
			if p := &in.Snap.Probes[i]; p.Purpose == "iothub" {
				out = append(out, probeResult(p))
			}
		}
		if len(out) == 0 {
			return []Result{skip("", "the IoT Hub hostname is unknown (no IOTEDGE_IOTHUBHOSTNAME here or on edgeHub)")}
		}
		return out
	},
}

var registryConnectivity = &Check{
	Meta: Meta{
		ID: "registry-connectivity", Title: "Container registries are reachable",
		Section: SecNetworking, Seed: "Container registries", Severity: policy.Warning, Helpful: true,
		Decides:     "Each registry named in the modules' images must resolve and complete a TLS handshake on 443 (through https_proxy when set), within the probe timeout.",
		Remediation: "Allow outbound HTTPS to the registry (and its data endpoint, such as <registry>.<region>.data.azurecr.io) in the firewall, or fix DNS; otherwise modules cannot be updated or recreated.",
		Reference:   seedRef("container-registries"),
		Needs:       []facts.Fact{NeedProbes},
	},
	Eval: func(in *Input) []Result {
		var out []Result
		for i := range in.Snap.Probes {
			if p := &in.Snap.Probes[i]; p.Purpose == "registry" {
				out = append(out, probeResult(p))
			}
		}
		if len(out) == 0 {
			return []Result{skip("", "no registry to probe (no module images known)")}
		}
		return out
	},
}

var clockSkew = &Check{
	Meta: Meta{
		ID: "clock-skew", Title: "Device clock is accurate",
		Section: SecNetworking, Seed: "iotedge check: host is close to reference time", Severity: policy.Critical, IotedgeCheck: "host-local-time",
		Decides:     "Compares the local clock with the Date header of an HTTPS response from IoT Hub (corrected by half the round trip); an offset of maxSkewSeconds or more fails.",
		Remediation: "Synchronize the host clock (systemd-timesyncd or chrony, NTP servers reachable); SAS tokens and certificates fail with a wrong clock.",
		Reference:   "https://learn.microsoft.com/azure/iot-edge/troubleshoot-common-errors",
		Needs:       []facts.Fact{NeedProbes},
		Params:      []policy.ParamSpec{{Name: "maxSkewSeconds", Kind: policy.Number, Max: 86400, Default: 10.0, Doc: "clock offset in seconds that fails"}},
	},
	Eval: func(in *Input) []Result {
		cl := in.Snap.Clock
		if cl == nil {
			return []Result{skip("", "no reference time: the IoT Hub hostname is unknown")}
		}
		if cl.Error != "" {
			return []Result{{Status: Error, Message: "cannot read the reference time from " + cl.Source + ": " + cl.Error, Undecided: NeedProbes}}
		}
		max := in.Params.Float("maxSkewSeconds")
		r := Result{}.with("skewSeconds", cl.SkewSeconds).with("reference", cl.Reference).with("source", cl.Source)
		dir := "ahead of"
		if cl.SkewSeconds < 0 {
			dir = "behind"
		}
		if math.Abs(cl.SkewSeconds) >= max {
			r.Status, r.Message = Fail, fmt.Sprintf("the clock is %.0f s %s IoT Hub's (%s), %.0f s or more", math.Abs(cl.SkewSeconds), dir, strings.TrimSuffix(cl.Source, "/"), max)
		} else {
			r.Status, r.Message = Pass, fmt.Sprintf("the clock is within %.0f s of IoT Hub's", math.Max(1, math.Abs(cl.SkewSeconds)))
		}
		return []Result{r}
	},
}

var proxySettingsConsistent = &Check{
	Meta: Meta{
		ID: "proxy-settings-consistent", Title: "Proxy settings are consistent",
		Section: SecNetworking, Seed: "Configure communication through a proxy", Severity: policy.Warning, Helpful: true, IotedgeCheck: "proxy-settings",
		Decides: "The engine's HTTPS proxy (/info) and the https_proxy of edgeAgent and edgeHub must agree; with a proxy, " +
			"UpstreamProtocol must be AmqpWs or MqttWs.",
		Remediation: "Set the same proxy URL for the engine (systemd drop-in for docker), aziot-edged ([agent.env] https_proxy in config.toml) and edgeHub's env, and use AmqpWs or MqttWs.",
		Reference:   seedRef("configure-communication-through-a-proxy"),
		Needs:       []facts.Fact{NeedContainers, NeedEngineInventory},
	},
	Eval: func(in *Input) []Result {
		engine := strings.TrimSpace(in.Snap.Engine.HTTPSProxy)
		vals := map[string]string{"engine": engine}
		var problems []string
		any := engine != ""
		for _, name := range []string{facts.EdgeAgent, facts.EdgeHub} {
			m := in.Snap.Module(name)
			if m == nil {
				continue
			}
			v, _ := m.EnvValue("https_proxy")
			vals[name] = v
			any = any || v != ""
			if !sameProxy(engine, v) {
				problems = append(problems, fmt.Sprintf("%s's https_proxy (%s) differs from the engine's (%s)", name,
					orName(maskCredentials(v), "unset"), orName(engine, "unset")))
			}
			if v != "" && !strings.HasSuffix(strings.ToLower(upstreamProtocol(m)), "ws") {
				problems = append(problems, fmt.Sprintf("%s uses a proxy with UpstreamProtocol %s, which does not go through it", name, upstreamProtocol(m)))
			}
		}
		r := Result{}.with("httpsProxy", maskProxies(vals))
		switch {
		case len(problems) > 0:
			r.Status, r.Message = Fail, strings.Join(problems, "; ")
		case !any:
			r.Status, r.Message = Pass, "no proxy is configured"
		default:
			r.Status, r.Message = Pass, "the engine, edgeAgent and edgeHub use the same proxy"
		}
		return []Result{r}
	},
}

// sameProxy compares the engine's proxy with a module's as the engine reports
// it: GET /info replaces the user and password of a proxy URL with
// xxxxx:xxxxx (moby's config.MaskCredentials).
func sameProxy(engine, module string) bool {
	return engine == module || engine == maskCredentials(module)
}

func maskCredentials(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	u.User = url.UserPassword("xxxxx", "xxxxx")
	return u.String()
}

// maskProxies keeps only whether each proxy is set: a proxy URL may hold credentials.
func maskProxies(v map[string]string) map[string]bool {
	out := map[string]bool{}
	for k, s := range v {
		out[k] = s != ""
	}
	return out
}

var containerEngineDNS = &Check{
	Meta: Meta{
		ID: "container-engine-dns", Title: "DNS servers are set for the container engine",
		Section: SecNetworking, Seed: "Set DNS server in container engine settings", Severity: policy.Warning, Helpful: true, IotedgeCheck: "container-engine-dns",
		Decides: "Passes when /etc/docker/daemon.json (mounted read-only into the module) sets dns, or every module sets " +
			"HostConfig.Dns; fails when daemon.json is readable and sets none and some module has none; skips when it cannot be told.",
		Remediation: "Add \"dns\": [\"<your DNS server>\"] to /etc/docker/daemon.json and restart the engine (or set Dns in each module's createOptions).",
		Reference:   seedRef("set-dns-server-in-container-engine-settings"),
		Needs:       []facts.Fact{NeedContainers},
		Reads:       facts.CreateOptionsAt("HostConfig.Dns"),
	},
	Eval: func(in *Input) []Result {
		dj := in.Snap.DaemonJSON
		if dj != nil && len(dj.DNS) > 0 {
			return []Result{pass("", "daemon.json sets DNS servers for every container").with("dns", dj.DNS)}
		}
		var without []string
		mods := in.Snap.Modules()
		for _, m := range mods {
			if len(m.DNS) == 0 {
				without = append(without, m.Name)
			}
		}
		switch {
		case len(mods) > 0 && len(without) == 0:
			return []Result{pass("", "every module sets its DNS servers")}
		case dj != nil && dj.Error == "":
			return []Result{fail("", "/etc/docker/daemon.json sets no dns and %s set none: containers inherit the host's resolver, "+
				"which may not work inside containers", pluralVerb(len(without), "module does", "modules do")).with("modulesWithoutDns", without)}
		case dj != nil:
			return []Result{skip("", "/etc/docker/daemon.json is mounted but unreadable: %s", dj.Error)}
		case in.Snap.Engine == nil: // a deployment manifest
			return []Result{skip("", "%s no Dns: the engine's DNS servers are set on the device (/etc/docker/daemon.json), not in "+
				"the manifest", pluralVerb(len(without), "module sets", "modules set")).with("modulesWithoutDns", without)}
		}
		return []Result{skip("", "cannot tell the engine's DNS settings: mount /etc/docker/daemon.json read-only into the module "+
			"(\"/etc/docker/daemon.json:/etc/docker/daemon.json:ro\") to decide")}
	},
}
