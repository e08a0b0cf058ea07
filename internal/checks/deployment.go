package checks

import (
	"encoding/json"
	"fmt"
	"math"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/facts"
	"github.com/edge-readiness/edge-readiness/internal/policy"
)

var upstreamProtocolConsistent = &Check{
	Meta: Meta{
		ID: "upstream-protocol-consistent", Title: "edgeAgent and edgeHub use the same upstream protocol",
		Section: SecDeployment, Seed: "Be consistent with upstream protocol", Severity: policy.Warning, Helpful: true,
		Decides: "Compares the UpstreamProtocol environment variable of edgeAgent and edgeHub, case-insensitively; unset means Amqp.",
		Remediation: "Set the same UpstreamProtocol (Amqp, AmqpWs, Mqtt or MqttWs) in the env of both edgeAgent and edgeHub in the " +
			"deployment manifest, and in [agent.env] of /etc/aziot/config.toml for edgeAgent's first start.",
		Reference: seedRef("be-consistent-with-upstream-protocol"),
		Needs:     []facts.Fact{NeedContainers},
		Reads:     []facts.Setting{facts.ModuleSetting(facts.EdgeAgent, facts.SettingEnv), facts.ModuleSetting(facts.EdgeHub, facts.SettingEnv)},
	},
	Eval: func(in *Input) []Result {
		agent, hub := in.Snap.Module(facts.EdgeAgent), in.Snap.Module(facts.EdgeHub)
		if agent == nil || hub == nil {
			return []Result{skip("", "edgeAgent or edgeHub has no container (see modules-running)")}
		}
		pa, pb := upstreamProtocol(agent), upstreamProtocol(hub)
		r := Result{}.with("edgeAgent", pa).with("edgeHub", pb)
		if strings.EqualFold(pa, pb) {
			r.Status, r.Message = Pass, "edgeAgent and edgeHub both use "+shownProtocol(agent, pa)
		} else {
			r.Status, r.Message = Fail, fmt.Sprintf("edgeAgent uses %s but edgeHub uses %s", shownProtocol(agent, pa), shownProtocol(hub, pb))
		}
		return []Result{r}
	},
}

func storageCheck(id, module, title string) *Check {
	return &Check{
		Meta: Meta{
			ID: id, Title: title, Section: SecDeployment, Seed: "Set up host storage for system modules",
			Severity: policy.Warning, Helpful: true, IotedgeCheck: id,
			Decides: "The storage directory, storageFolder (default /tmp) + /" + module + ", must lie under one of the container's " +
				"bind mounts or volumes (Mounts destinations or Config.Volumes).",
			Remediation: "Give " + module + " a host directory for its state: in its createOptions add a bind such as " +
				"\"/srv/" + strings.ToLower(module) + ":/tmp/" + module + "\" (or set storageFolder to a mounted path), and make the host " +
				"directory writable by the module's user.",
			Reference: seedRef("set-up-host-storage-for-system-modules"),
			Needs:     []facts.Fact{NeedContainers},
			Reads: append([]facts.Setting{facts.ModuleSetting(module, facts.SettingEnv)},
				moduleFields(module, "Env", "Volumes", "HostConfig.Binds", "HostConfig.Mounts")...),
		},
		Eval: func(in *Input) []Result {
			c := in.Snap.Module(module)
			if c == nil {
				return []Result{skip(module, "no %s container (see modules-running)", module)}
			}
			folder := "/tmp"
			if v, ok := c.EnvValue("storageFolder"); ok && v != "" {
				folder = v
			}
			dir := path.Join(folder, module)
			r := Result{Module: module}.with("storageDirectory", dir)
			if dest := mountCovering(c, dir); dest != "" {
				r.Status, r.Message = Pass, fmt.Sprintf("%s keeps its state in %s, mounted from the host at %s", module, dir, dest)
				return []Result{r.with("mount", dest)}
			}
			r.Status, r.Message = Fail, fmt.Sprintf("%s keeps its state in %s inside the container: messages and state are lost "+
				"when the container is recreated", module, dir)
			return []Result{r}
		},
	}
}

// mountCovering returns the mount destination (or volume) that holds dir.
func mountCovering(c *facts.Container, dir string) string {
	dests := make([]string, 0, len(c.Mounts)+len(c.ConfigVolumes))
	for _, m := range c.Mounts {
		if m.Type != "tmpfs" {
			dests = append(dests, m.Destination)
		}
	}
	dests = append(dests, c.ConfigVolumes...)
	for _, d := range dests {
		d = path.Clean(d)
		if dir == d || strings.HasPrefix(dir, strings.TrimSuffix(d, "/")+"/") {
			return d
		}
	}
	return ""
}

var edgeAgentStorage = storageCheck("edge-agent-storage-mounted-from-host", facts.EdgeAgent,
	"edgeAgent's storage is persisted on the host")
var edgeHubStorage = storageCheck("edge-hub-storage-mounted-from-host", facts.EdgeHub,
	"edgeHub's storage is persisted on the host")

var thirtyTwoBit = map[string]bool{"armv7l": true, "armv6l": true, "arm": true, "armhf": true, "i386": true, "i686": true, "x86": true}

var edgehubOptimizeForPerformance = &Check{
	Meta: Meta{
		ID: "edgehub-optimize-for-performance", Title: "edgeHub is not optimized for performance on a constrained device",
		Section: SecDeployment, Seed: "Don't optimize for performance on constrained devices", Severity: policy.Warning, Helpful: true,
		Decides: "When the device is constrained (engine memory under constrainedMemoryBytes, or a 32-bit architecture), " +
			"edgeHub's OptimizeForPerformance must be false; skipped on other devices.",
		Remediation: "Set OptimizeForPerformance=false in edgeHub's env in the deployment manifest.",
		Reference:   seedRef("dont-optimize-for-performance-on-constrained-devices"),
		Needs:       []facts.Fact{NeedContainers, NeedEngine},
		Reads:       []facts.Setting{facts.ModuleSetting(facts.EdgeHub, facts.SettingEnv)},
		Params: []policy.ParamSpec{{Name: "constrainedMemoryBytes", Kind: policy.Int, Max: 1 << 40, Default: 1 << 30,
			Doc: "devices with less memory than this are constrained"}},
	},
	Eval: func(in *Input) []Result {
		e := in.Snap.Engine
		limit := int64(in.Params.Int("constrainedMemoryBytes"))
		var why []string
		if e.MemTotal > 0 && e.MemTotal < limit {
			why = append(why, fmt.Sprintf("%s of memory", facts.BytesIEC(e.MemTotal)))
		}
		if thirtyTwoBit[strings.ToLower(e.Arch)] {
			why = append(why, "a 32-bit architecture ("+e.Arch+")")
		}
		if len(why) == 0 {
			return []Result{skip(facts.EdgeHub, "the device is not constrained (%s of memory, %s)", facts.BytesIEC(e.MemTotal), e.Arch)}
		}
		hub := in.Snap.Module(facts.EdgeHub)
		if hub == nil {
			return []Result{skip(facts.EdgeHub, "no edgeHub container (see modules-running)")}
		}
		v, set := hub.EnvValue("OptimizeForPerformance")
		r := Result{Module: facts.EdgeHub}.with("constrainedBy", why).with("optimizeForPerformance", v)
		if strings.EqualFold(strings.TrimSpace(v), "false") {
			r.Status, r.Message = Pass, "edgeHub has OptimizeForPerformance=false on a constrained device ("+strings.Join(why, ", ")+")"
			return []Result{r}
		}
		shown := "unset (defaults to true)"
		if set {
			shown = strconv.Quote(v)
		}
		r.Status, r.Message = Fail, fmt.Sprintf("the device is constrained (%s) but edgeHub's OptimizeForPerformance is %s",
			strings.Join(why, ", "), shown)
		return []Result{r}
	},
}

// debuggerPorts are the ports debuggers listen on (debugpy, delve, vsdbg, node, Java JDWP).
var debuggerPorts = map[int]string{5678: "debugpy", 2345: "delve", 4020: "vsdbg", 4021: "vsdbg", 4022: "vsdbg",
	4023: "vsdbg", 4024: "vsdbg", 9229: "node inspector", 5005: "Java JDWP"}

var noDebugImages = &Check{
	Meta: Meta{
		ID: "no-debug-images", Title: "No debug builds of module images",
		Section: SecDeployment, Seed: "Don't use debug versions of module images", Severity: policy.Warning, Helpful: true,
		Decides: "A module's image tag must not mark a debug build (.debug or -debug), and a custom module must not publish a " +
			"debugger port (5678, 2345, 4020-4024, 9229, 5005).",
		Remediation: "Deploy the release build of the module (for example the tag without .debug) and remove the debugger's " +
			"port bindings from its createOptions.",
		Reference: seedRef("dont-use-debug-versions-of-module-images"),
		Needs:     []facts.Fact{NeedContainers},
		Reads:     append([]facts.Setting{facts.SettingImage}, facts.CreateOptionsAt("HostConfig.PortBindings")...),
	},
	Eval: func(in *Input) []Result {
		var out []Result
		for _, m := range in.Snap.Modules() {
			img := m.OriginalImage()
			var problems []string
			if ref, err := parseImage(img); err == nil && isDebugTag(ref.tag) {
				problems = append(problems, "its image "+img+" is a debug build")
			}
			if !m.IsSystemModule() {
				for _, p := range m.Ports {
					n, _ := strconv.Atoi(strings.SplitN(p.ContainerPort, "/", 2)[0])
					if tool, ok := debuggerPorts[n]; ok {
						problems = append(problems, fmt.Sprintf("it publishes %s debugger port %s on host port %s", tool, p.ContainerPort, p.HostPort))
					}
				}
			}
			if len(problems) > 0 {
				out = append(out, fail(m.Name, "%s: %s", m.Name, strings.Join(problems, "; ")).with("image", img))
			} else {
				if m.IsSystemModule() {
					out = append(out, pass(m.Name, "%s runs a release image (%s)", m.Name, img))
				} else {
					out = append(out, pass(m.Name, "%s runs a release image (%s) with no debugger port", m.Name, img))
				}
			}
		}
		return out
	},
}

func isDebugTag(tag string) bool {
	t := strings.ToLower(tag)
	return strings.HasSuffix(t, ".debug") || strings.Contains(t, "-debug") || t == "debug"
}

var modulesRunning = &Check{
	Meta: Meta{
		ID: "modules-running", Title: "Every module is running",
		Section: SecDeployment, Seed: "Use correct module images in deployment manifests", Severity: policy.Critical,
		Decides: "Every container owned by edgeAgent must be running, not restarting more than maxRestartsPerHour (RestartCount " +
			"averaged over the container's life, at least one hour), and not OOM-killed in the last hour; edgeAgent and edgeHub must " +
			"exist; every module edgeAgent expects (edgeAgent_total_time_expected_running_seconds) must have a container.",
		Remediation: "Read the module's logs (`iotedge logs <module>`, `docker logs <module>`) and edgeAgent's logs for pull or " +
			"create errors; check the image name and registry credentials in the deployment; raise the memory limit of an " +
			"OOM-killed module.",
		Reference: seedRef("use-correct-module-images-in-deployment-manifests"),
		// The containers' live state comes from the engine: a manifest has none.
		Needs:   []facts.Fact{NeedContainers, NeedEngine},
		History: 4, // edgeAgent's start counters over the last cycles, within the hour
		Params: []policy.ParamSpec{{Name: "maxRestartsPerHour", Kind: policy.Int, Max: 1000, Default: 3,
			Doc: "restarts per hour above which a module is restart-looping"}},
	},
	Eval: func(in *Input) []Result {
		now := in.Snap.Time
		maxRate := float64(in.Params.Int("maxRestartsPerHour"))
		var out []Result
		for _, sys := range []string{facts.EdgeAgent, facts.EdgeHub} {
			if in.Snap.Module(sys) == nil {
				out = append(out, fail(sys, "there is no %s container owned by IoT Edge: the IoT Edge runtime is not running on this device, "+
					"%s was removed, or its image cannot be pulled; see `iotedge system status` and `iotedge logs edgeAgent`", sys, sys))
			}
		}
		for _, name := range expectedModules(in.Snap) {
			if in.Snap.Module(name) == nil && name != facts.EdgeAgent && name != facts.EdgeHub {
				out = append(out, fail(name, "edgeAgent expects module %s but it has no container: its image may not be pullable "+
					"or its createOptions may be invalid (see edgeAgent's logs)", name))
			}
		}
		starts, window := moduleStarts(in)
		for _, m := range in.Snap.Modules() {
			r := moduleRunning(m, now, maxRate)
			if n, ok := starts[m.Name]; ok && r.Status == Pass {
				if limit := maxRate * math.Max(1, math.Ceil(window.Hours())); n > limit {
					r.Status, r.Message = Fail, fmt.Sprintf("%s is restart-looping: edgeAgent started it %.0f times in the last %s (more than %.0f per hour)",
						m.Name, n, window.Round(time.Minute), maxRate)
				}
				r = r.with("startsInWindow", n).with("window", window.String())
			}
			out = append(out, r)
		}
		return out
	},
}

func moduleRunning(m *facts.Container, now time.Time, maxRate float64) Result {
	st := m.State
	r := Result{Module: m.Name}.with("state", st.Status).with("restartCount", st.RestartCount)
	hours := 1.0
	if !st.Created.IsZero() {
		if h := now.Sub(st.Created).Hours(); h > hours {
			hours = h
		}
	}
	rate := float64(st.RestartCount) / hours
	recentOOM := st.OOMKilled && (!st.Running || (!st.FinishedAt.IsZero() && now.Sub(st.FinishedAt) < time.Hour))
	switch {
	case st.Restarting || (!st.Running && st.Status == "restarting"):
		r.Status, r.Message = Fail, fmt.Sprintf("%s is restarting (%s)", m.Name, plural(st.RestartCount, "restart"))
	case st.Status == "paused": // Docker reports a paused container as running
		r.Status, r.Message = Fail, fmt.Sprintf("%s is paused: its processes are frozen (docker unpause %s)", m.Name, m.Name)
	case !st.Running:
		detail := fmt.Sprintf("exit code %d", st.ExitCode)
		if st.OOMKilled {
			detail += ", killed for running out of memory"
		}
		if st.Error != "" {
			detail += ", error: " + st.Error
		}
		r.Status, r.Message = Fail, fmt.Sprintf("%s is not running: status %s (%s)", m.Name, st.Status, detail)
	case recentOOM:
		r.Status, r.Message = Fail, fmt.Sprintf("%s was killed for running out of memory within the last hour", m.Name)
	case rate > maxRate:
		r.Status, r.Message = Fail, fmt.Sprintf("%s is restart-looping: %d restarts, %.1f per hour (more than %.0f)", m.Name,
			st.RestartCount, rate, maxRate)
	default:
		r.Status, r.Message = Pass, fmt.Sprintf("%s is running (%s)", m.Name, plural(st.RestartCount, "restart"))
	}
	return r.with("restartsPerHour", roundTo(rate, 2))
}

// moduleStarts counts, per module, how often edgeAgent started it
// (edgeAgent_module_start_total) since the oldest snapshot kept, within the
// last hour; a counter reset counts from zero.
func moduleStarts(in *Input) (map[string]float64, time.Duration) {
	cur := in.Snap.Metrics[facts.EdgeAgent]
	var base *facts.Snapshot
	for _, h := range in.History {
		if in.Snap.Time.Sub(h.Time) <= time.Hour && h.Metrics[facts.EdgeAgent].OK() {
			base = h
			break
		}
	}
	if base == nil || !cur.OK() {
		return nil, 0
	}
	out := map[string]float64{}
	for _, m := range in.Snap.Modules() {
		d, ok, _ := counterDelta(base.Metrics[facts.EdgeAgent], cur, "edgeAgent_module_start_total", map[string]string{"module_name": m.Name})
		if ok {
			out[m.Name] = d
		}
	}
	return out, in.Snap.Time.Sub(base.Time)
}

func expectedModules(s *facts.Snapshot) []string {
	var out []string
	seen := map[string]bool{}
	for _, smp := range s.Metrics[facts.EdgeAgent].Find("edgeAgent_total_time_expected_running_seconds", nil) {
		n := smp.Labels["module_name"]
		if n != "" && n != "host" && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// moduleFields are one module's createOptions fields, as a check's Reads.
func moduleFields(module string, fields ...string) []facts.Setting {
	out := facts.CreateOptionsAt(fields...)
	for i := range out {
		out[i] = facts.ModuleSetting(module, out[i])
	}
	return out
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
			r.Status, r.Message = Fail, fmt.Sprintf("the deployment takes about %s of edgeAgent's twin, %.0f%% of the 32 KB limit", facts.BytesIEC(int64(total)), 100*ratio)
		} else {
			r.Status, r.Message = Pass, fmt.Sprintf("the deployment takes about %s of edgeAgent's twin (%.0f%% of 32 KB)", facts.BytesIEC(int64(total)), 100*ratio)
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

var edgehubMessageTTL = counterCheck(Meta{
	ID: "edgehub-message-ttl", Title: "No messages expire in edgeHub",
	Section: SecDeployment, Seed: "Reduce storage time for messages", Severity: policy.Warning, Helpful: true,
	Decides:     "edgehub_messages_dropped_total{reason=\"ttl_expiry\"} must not grow between cycles.",
	Remediation: "Messages waited longer than edgeHub's timeToLiveSecs: restore upstream connectivity, or raise storeAndForwardConfiguration.timeToLiveSecs (and the disk it needs).",
	Reference:   seedRef("reduce-storage-time-for-messages"),
	Needs:       []facts.Fact{NeedEdgeHubStats},
}, facts.EdgeHub, []counterSpec{
	{name: "edgehub_messages_dropped_total", match: map[string]string{"reason": "ttl_expiry"}, label: "messages expired", one: "message expired"},
})
