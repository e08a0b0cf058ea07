package checks

import (
	"fmt"
	"math"
	"strings"

	"github.com/edge-readiness/edge-readiness/internal/facts"
	"github.com/edge-readiness/edge-readiness/internal/policy"
)

func probeMessage(p *facts.Probe) string {
	via := ""
	if p.ViaProxy {
		via = " through the proxy"
	}
	switch {
	case p.DNSError != "":
		return fmt.Sprintf("%s cannot be resolved: %s", p.Host, p.DNSError)
	case p.TLSError != "":
		return fmt.Sprintf("no TLS handshake with %s:%s%s: %s", p.Host, p.Port, via, p.TLSError)
	}
	return fmt.Sprintf("TLS handshake with %s:%s%s in %d ms", p.Host, p.Port, via, p.LatencyMs)
}

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
