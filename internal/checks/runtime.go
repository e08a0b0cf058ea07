package checks

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/edge-readiness/edge-readiness/internal/facts"
	"github.com/edge-readiness/edge-readiness/internal/policy"
)

var rfc1035Label = regexp.MustCompile(`^[A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)

// deviceHostname is the hostname the device presents to its modules.
func deviceHostname(s *facts.Snapshot) (string, string) {
	if hub := s.Module(facts.EdgeHub); hub != nil {
		if v, ok := hub.EnvValue("EdgeDeviceHostName"); ok && v != "" {
			return v, "edgeHub's EdgeDeviceHostName"
		}
	}
	if v := s.Env["IOTEDGE_GATEWAYHOSTNAME"]; v != "" {
		return v, "IOTEDGE_GATEWAYHOSTNAME"
	}
	return "", ""
}

var hostnameValid = &Check{
	Meta: Meta{
		ID: "hostname-valid", Title: "Device hostname is valid",
		Section: SecDevice, Seed: "Install production certificates", Severity: policy.Warning, Helpful: true, IotedgeCheck: "hostname",
		Decides: "The device hostname (edgeHub's EdgeDeviceHostName, else this module's IOTEDGE_GATEWAYHOSTNAME) must be RFC 1035 " +
			"(labels of letters, digits and hyphens, starting with a letter, at most 63 characters) and at most 64 characters " +
			"long, or an IP address.",
		Remediation: "Set hostname in /etc/aziot/config.toml to a valid name of at most 64 characters and run `sudo iotedge config apply`; the Edge CA issues edgeHub's certificate for it.",
		Reference:   "https://learn.microsoft.com/azure/iot-edge/troubleshoot-common-errors",
		Reads:       []facts.Setting{facts.ModuleSetting(facts.EdgeHub, facts.SettingEnv)},
	},
	Eval: func(in *Input) []Result {
		name, from := deviceHostname(in.Snap)
		if name == "" {
			return []Result{skip("", "the device hostname is unknown: neither edgeHub's EdgeDeviceHostName nor IOTEDGE_GATEWAYHOSTNAME is visible")}
		}
		r := Result{}.with("hostname", name).with("from", from)
		if isIP(name) {
			r.Status, r.Message = Pass, fmt.Sprintf("the device hostname %s (%s) is an IP address", name, from)
			return []Result{r}
		}
		var bad []string
		for _, l := range strings.Split(name, ".") {
			if !rfc1035Label.MatchString(l) {
				bad = append(bad, fmt.Sprintf("label %q is not RFC 1035", l))
			}
		}
		if len(name) > 64 {
			bad = append(bad, fmt.Sprintf("it is %d characters long, too long to be used as a certificate issuer (64 at most)", len(name)))
		}
		if len(bad) > 0 {
			r.Status, r.Message = Fail, fmt.Sprintf("the device hostname %q (%s) is not valid: %s", name, from, strings.Join(bad, "; "))
		} else {
			r.Status, r.Message = Pass, fmt.Sprintf("the device hostname %s (%s) is valid", name, from)
		}
		return []Result{r}
	},
}

var upstreamProtocolInfo = &Check{
	Meta: Meta{
		ID: "upstream-protocol", Title: "Upstream protocol",
		Section: SecDevice, Seed: "Choose upstream protocol", Severity: policy.Info,
		Decides: "Reports the UpstreamProtocol edgeHub and edgeAgent use, the port it needs and whether the probe of IoT Hub " +
			"reached that port; suggests the WebSocket variant (AmqpWs, MqttWs) when a proxy is configured, as only 443 goes " +
			"through it, or when the port is unreachable while 443 is.",
		Remediation: "Choose the protocol the network allows: AmqpWs or MqttWs when only 443 is open or a proxy is used.",
		Reference:   seedRef("choose-upstream-protocol"),
		Needs:       []facts.Fact{NeedContainers},
		Reads:       []facts.Setting{facts.ModuleSetting(facts.EdgeHub, facts.SettingEnv)},
	},
	Eval: func(in *Input) []Result {
		hub := in.Snap.Module(facts.EdgeHub)
		if hub == nil {
			return []Result{skip("", "no edgeHub container (see modules-running)")}
		}
		p := upstreamProtocol(hub)
		port, _ := facts.UpstreamPort(p)
		r := Result{}.with("protocol", p).with("port", port)
		if proxy := engineOrEnvProxy(in.Snap, hub); proxy != "" && port != "443" {
			r.Status, r.Message = Fail, fmt.Sprintf("edgeHub uses %s (port %s) but a proxy is configured: only %sWs on 443 goes through a proxy",
				p, port, strings.TrimSuffix(p, "Ws"))
			return []Result{r}
		}
		reach := ""
		if pr := upstreamProbe(in.Snap); pr != nil {
			r = r.with("reachable", pr.OK())
			if !pr.OK() && port != "443" && reachable443(in.Snap) {
				r.Status, r.Message = Fail, fmt.Sprintf("edgeHub uses %s but port %s is not reachable (%s) while 443 is: use %sWs",
					p, port, probeMessage(pr), strings.TrimSuffix(p, "Ws"))
				return []Result{r}
			}
			reach = " (reachable from this module)"
			if !pr.OK() {
				reach = " (not reachable from this module: see upstream-connectivity)"
			}
		}
		r.Status, r.Message = Pass, fmt.Sprintf("edgeHub connects upstream with %s on port %s%s", shownProtocol(hub, p), port, reach)
		return []Result{r}
	},
}

// upstreamProbe is the probe of IoT Hub (or the parent device), if any.
func upstreamProbe(s *facts.Snapshot) *facts.Probe {
	for i := range s.Probes {
		if s.Probes[i].Purpose == "iothub" {
			return &s.Probes[i]
		}
	}
	return nil
}

// reachable443 tells whether some probe completed a TLS handshake on 443.
func reachable443(s *facts.Snapshot) bool {
	for i := range s.Probes {
		if s.Probes[i].Port == "443" && s.Probes[i].OK() {
			return true
		}
	}
	return false
}

func engineOrEnvProxy(s *facts.Snapshot, c *facts.Container) string {
	if v, ok := c.EnvValue("https_proxy"); ok && v != "" {
		return v
	}
	if s.Engine != nil {
		return s.Engine.HTTPSProxy
	}
	return ""
}

var edgehubProtocolHeads = &Check{
	Meta: Meta{
		ID: "edgehub-protocol-heads", Title: "Unused protocol heads are disabled",
		Section: SecDeployment, Seed: "Disable unused protocols", Severity: policy.Info, Helpful: true,
		Decides: "Reads edgeHub's amqpSettings__enabled, mqttSettings__enabled and httpSettings__enabled (enabled unless false); " +
			"when protocolsInUse is set, a head that is enabled but not listed fails.",
		Remediation: "Set amqpSettings__enabled or mqttSettings__enabled to false in edgeHub's env for protocols no module or downstream device uses (keep httpSettings__enabled: metrics and the API use it).",
		Reference:   seedRef("disable-unused-protocols"),
		Needs:       []facts.Fact{NeedContainers},
		Reads:       []facts.Setting{facts.ModuleSetting(facts.EdgeHub, facts.SettingEnv)},
		Params: []policy.ParamSpec{{Name: "protocolsInUse", Kind: policy.StringList, Default: []string{},
			Doc: "protocol heads modules and devices use: amqp, mqtt, http (empty: only report)"}},
	},
	Eval: func(in *Input) []Result {
		hub := in.Snap.Module(facts.EdgeHub)
		if hub == nil {
			return []Result{skip(facts.EdgeHub, "no edgeHub container (see modules-running)")}
		}
		inUse := in.Params.Strings("protocolsInUse")
		var enabled, unused []string
		for _, head := range []string{"amqp", "mqtt", "http"} {
			v, _ := hub.EnvValue(head + "Settings__enabled")
			if !strings.EqualFold(strings.TrimSpace(v), "false") {
				enabled = append(enabled, head)
				if len(inUse) > 0 && !containsFold(inUse, head) {
					unused = append(unused, head)
				}
			}
		}
		r := Result{Module: facts.EdgeHub}.with("enabled", enabled).with("protocolsInUse", inUse)
		switch {
		case len(unused) > 0:
			r.Status, r.Message = Fail, fmt.Sprintf("edgeHub has the %s head(s) enabled, which protocolsInUse does not list", strings.Join(unused, ", "))
		case len(inUse) == 0:
			r.Status, r.Message = Pass, fmt.Sprintf("edgeHub has the %s heads enabled (set protocolsInUse to check them)", strings.Join(enabled, ", "))
		default:
			r.Status, r.Message = Pass, fmt.Sprintf("edgeHub enables only heads in use (%s)", strings.Join(enabled, ", "))
		}
		return []Result{r}
	},
}

func containsFold(l []string, s string) bool {
	for _, e := range l {
		if strings.EqualFold(e, s) {
			return true
		}
	}
	return false
}

var moduleUpdateMode = &Check{
	Meta: Meta{
		ID: "module-update-mode", Title: "How module updates are applied",
		Section: SecDeployment, Seed: "Configure how updates to modules are applied", Severity: policy.Info,
		Decides:     "Reports edgeAgent's ModuleUpdateMode; fails (as info) when it is not WaitForAllPulls, so that a failed pull stops modules one by one.",
		Remediation: "Set ModuleUpdateMode=WaitForAllPulls in edgeAgent's env so that no module stops before every new image is pulled.",
		Reference:   seedRef("configure-how-updates-to-modules-are-applied"),
		Needs:       []facts.Fact{NeedContainers},
		Reads:       []facts.Setting{facts.ModuleSetting(facts.EdgeAgent, facts.SettingEnv)},
	},
	Eval: func(in *Input) []Result {
		agent := in.Snap.Module(facts.EdgeAgent)
		if agent == nil {
			return []Result{skip(facts.EdgeAgent, "no edgeAgent container (see modules-running)")}
		}
		v, _ := agent.EnvValue("ModuleUpdateMode")
		r := Result{Module: facts.EdgeAgent}.with("moduleUpdateMode", v)
		if strings.EqualFold(v, "WaitForAllPulls") {
			r.Status, r.Message = Pass, "edgeAgent waits for all pulls before updating modules"
		} else {
			r.Status, r.Message = Fail, fmt.Sprintf("edgeAgent's ModuleUpdateMode is %s: modules are updated one by one as their images arrive",
				orName(v, "unset (the default, NonBlocking)"))
		}
		return []Result{r}
	},
}

// twinLimit is the module twin (and so the deployment manifest) limit.
const twinLimit = 32 * 1024

var deploymentTwinSize = &Check{
	Meta: Meta{
		ID: "deployment-twin-size", Title: "Deployment fits edgeAgent's twin",
		Section: SecDeployment, Seed: "Be mindful of twin size limits when using custom modules", Severity: policy.Warning, Helpful: true,
		Decides: "Estimates each module's size in edgeAgent's desired properties from what the container shows (image, env names " +
			"and value lengths, binds, port bindings, limits, labels, plus the fixed settings) and fails when the total reaches " +
			"warnRatio of the 32 KB twin limit.",
		Remediation: "Shrink the deployment: move large createOptions and env out of the manifest (into module twins or files), drop unused modules, or split the solution.",
		Reference:   seedRef("be-mindful-of-twin-size-limits-when-using-custom-modules"),
		Needs:       []facts.Fact{NeedContainers},
		Params:      []policy.ParamSpec{{Name: "warnRatio", Kind: policy.Ratio, Default: 0.75, Doc: "share of the 32 KB limit that fails"}},
	},
	Eval: func(in *Input) []Result {
		total := 600 // $edgeAgent's fixed runtime and schema settings
		type entry struct {
			Name  string `json:"name"`
			Bytes int    `json:"bytes"`
		}
		var per []entry
		for _, m := range in.Snap.Modules() {
			n := estimateModuleBytes(m)
			total += n
			per = append(per, entry{m.Name, n})
		}
		sort.Slice(per, func(i, j int) bool { return per[i].Bytes > per[j].Bytes })
		if len(per) > 5 {
			per = per[:5]
		}
		ratio := float64(total) / twinLimit
		r := Result{}.with("estimatedBytes", total).with("limitBytes", twinLimit).with("largest", per)
		if ratio >= in.Params.Float("warnRatio") {
			r.Status, r.Message = Fail, fmt.Sprintf("the deployment takes about %s of edgeAgent's twin, %.0f%% of the 32 KB limit", bytesIEC(int64(total)), 100*ratio)
		} else {
			r.Status, r.Message = Pass, fmt.Sprintf("the deployment takes about %s of edgeAgent's twin (%.0f%% of 32 KB)", bytesIEC(int64(total)), 100*ratio)
		}
		return []Result{r}
	},
}

// estimateModuleBytes approximates a module's JSON in edgeAgent's desired
// properties: settings.image, createOptions, env and the fixed fields.
func estimateModuleBytes(m *facts.Container) int {
	n := 180 + len(m.Name) + len(m.OriginalImage()) // version, type, status, restartPolicy, settings keys
	for k, v := range m.Env {
		if strings.HasPrefix(k, "IOTEDGE_") || k == "PATH" || k == "RuntimeLogLevel" || k == "HOME" {
			continue // added by the runtime or the image, not the deployment
		}
		n += len(k) + len(v) + 16
	}
	create := map[string]any{}
	var binds []string
	for _, mt := range m.Mounts {
		if mt.Type == "bind" && !strings.HasSuffix(mt.Destination, "workload.sock") && !strings.HasSuffix(mt.Destination, "mgmt.sock") {
			binds = append(binds, mt.Source+":"+mt.Destination)
		}
	}
	if len(binds) > 0 {
		create["Binds"] = binds
	}
	if len(m.Ports) > 0 {
		create["PortBindings"] = m.Ports
	}
	if m.Memory > 0 {
		create["Memory"] = m.Memory
	}
	if m.NanoCPUs > 0 {
		create["NanoCpus"] = m.NanoCPUs
	}
	if m.LogConfig.Type != "" {
		create["LogConfig"] = m.LogConfig
	}
	labels := map[string]string{}
	for k, v := range m.Labels {
		if !strings.HasPrefix(k, "net.azure-devices.edge.") {
			labels[k] = v
		}
	}
	if len(labels) > 0 {
		create["Labels"] = labels
	}
	if b, err := json.Marshal(create); err == nil && len(create) > 0 {
		n += len(b) * 12 / 10 // createOptions is a JSON string: quotes are escaped
	}
	return n
}
