package checks

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/edge-readiness/edge-readiness/internal/facts"
	"github.com/edge-readiness/edge-readiness/internal/policy"
)

var runtimeImagesPrivateRegistry = &Check{
	Meta: Meta{
		ID: "runtime-images-private-registry", Title: "Runtime images come from a private registry",
		Section: SecContainers, Seed: "Store runtime containers in your private registry", Severity: policy.Info, Helpful: true,
		Decides:     "edgeAgent's and edgeHub's images (as the deployment names them) must not come from mcr.microsoft.com.",
		Remediation: "Import the azureiotedge-agent and azureiotedge-hub images into your registry (`az acr import`), and point the deployment and [agent] in /etc/aziot/config.toml at it.",
		Reference:   seedRef("store-runtime-containers-in-your-private-registry"),
		Needs:       []facts.Fact{NeedContainers},
		Reads:       []facts.Setting{facts.SettingImage},
	},
	Eval: func(in *Input) []Result {
		var out []Result
		for _, name := range []string{facts.EdgeAgent, facts.EdgeHub} {
			m := in.Snap.Module(name)
			if m == nil {
				out = append(out, skip(name, "no %s container (see modules-running)", name))
				continue
			}
			img := m.OriginalImage()
			ref, err := parseImage(img)
			if err == nil && ref.domain == "mcr.microsoft.com" {
				out = append(out, fail(name, "%s's image %s comes from mcr.microsoft.com: the device depends on a public registry to recover", name, img).with("image", img))
			} else {
				out = append(out, pass(name, "%s's image %s comes from a private registry", name, img).with("image", img))
			}
		}
		return out
	},
}

var imageGarbageCollection = &Check{
	Meta: Meta{
		ID: "image-garbage-collection", Title: "Unused images are collected",
		Section: SecContainers, Seed: "Configure image garbage collection", Severity: policy.Warning, Helpful: true,
		Decides:     "Images used by no container (GET /system/df) must hold less than maxReclaimableBytes.",
		Remediation: "Enable image garbage collection in /etc/aziot/config.toml ([image_garbage_collection] enabled = true, cleanup_recurrence, image_age_cleanup_threshold) or prune with `docker image prune -a`.",
		Reference:   seedRef("configure-image-garbage-collection"),
		Needs:       []facts.Fact{NeedContainers, NeedEngineInventory},
		Params: []policy.ParamSpec{{Name: "maxReclaimableBytes", Kind: policy.Int, Max: 1 << 50, Default: 1 << 30,
			Doc: "bytes of unused images tolerated"}},
	},
	Eval: func(in *Input) []Result {
		e := in.Snap.Engine
		max := int64(in.Params.Int("maxReclaimableBytes"))
		if e.ImagesReclaimable < 0 {
			return []Result{skip("", "the engine's disk usage (/system/df) could not be read")}
		}
		unused, known := unusedImages(in.Snap)
		r := Result{}.with("reclaimableBytes", e.ImagesReclaimable).with("maxReclaimableBytes", max)
		inImages := "in images"
		if known {
			r = r.with("unusedImages", unused)
			inImages = "in " + plural(unused, "image")
		}
		if e.ImagesReclaimable > max {
			r.Status, r.Message = Fail, fmt.Sprintf("%s %s that no container uses could be reclaimed (more than %s)",
				bytesIEC(e.ImagesReclaimable), inImages, bytesIEC(max))
		} else {
			r.Status, r.Message = Pass, fmt.Sprintf("%s in unused images (at most %s allowed)", bytesIEC(e.ImagesReclaimable), bytesIEC(max))
		}
		return []Result{r}
	},
}

// unusedImages counts the images no container uses. The engine's image list
// says -1 for an image's containers when it did not count them: such an
// image is counted by the containers' image ids, when every container has
// one; otherwise the count is unknown (known is false).
func unusedImages(s *facts.Snapshot) (unused int, known bool) {
	used := map[string]bool{}
	byContainers := true
	for i := range s.Containers {
		if s.Containers[i].ImageID == "" {
			byContainers = false
		}
		used[s.Containers[i].ImageID] = true
	}
	for _, img := range s.Images {
		switch {
		case img.Containers == 0:
			unused++
		case img.Containers < 0 && !byContainers:
			return 0, false
		case img.Containers < 0 && !used[img.ID]:
			unused++
		}
	}
	return unused, true
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

var observabilityModule = &Check{
	Meta: Meta{
		ID: "observability-module", Title: "Logs and metrics are shipped",
		Section: SecSolution, Seed: "Set up logs and diagnostics", Severity: policy.Info, Helpful: true,
		Decides:     "A module whose image names the metrics collector (azureiotedge-metrics-collector) or matches observabilityImages must be deployed.",
		Remediation: "Deploy the Azure Monitor metrics collector module (mcr.microsoft.com/azureiotedge-metrics-collector) or your own log/metrics shipper.",
		Reference:   "https://learn.microsoft.com/azure/iot-edge/how-to-collect-and-transport-metrics",
		Needs:       []facts.Fact{NeedContainers},
		Reads:       []facts.Setting{facts.SettingImage},
		Params: []policy.ParamSpec{{Name: "observabilityImages", Kind: policy.StringList, Default: []string{"metrics-collector"},
			Doc: "substrings of image names that count as a logs/metrics shipper"}},
	},
	Eval: func(in *Input) []Result {
		pats := in.Params.Strings("observabilityImages")
		for _, m := range in.Snap.Modules() {
			img := strings.ToLower(m.OriginalImage())
			for _, p := range pats {
				if p != "" && strings.Contains(img, strings.ToLower(p)) {
					return []Result{pass("", "%s ships logs or metrics (%s)", m.Name, m.OriginalImage()).with("module", m.Name)}
				}
			}
		}
		return []Result{fail("", "no module ships logs or metrics off the device (looked for images matching %s)", strings.Join(pats, ", "))}
	},
}
