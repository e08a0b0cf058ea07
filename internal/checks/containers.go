package checks

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/edge-readiness/edge-readiness/internal/facts"
	"github.com/edge-readiness/edge-readiness/internal/policy"
)

var fullVersionRE = regexp.MustCompile(`^\d+\.\d+\.\d+`)

var imageTagsPinned = &Check{
	Meta: Meta{
		ID: "image-tags-pinned", Title: "Image tags are pinned",
		Section: SecContainers, Seed: "Use tags to manage versions", Severity: policy.Critical,
		Decides: "edgeAgent and edgeHub must name a full version (1.6.8) or a digest, not a rolling tag (1.6); a custom module " +
			"must name a tag other than latest, or a digest. Images are read as the deployment names them " +
			"(label net.azure-devices.edge.original-image).",
		Remediation: "Name every image by a specific version in the deployment manifest (mcr.microsoft.com/azureiotedge-hub:1.6.8, " +
			"myregistry.azurecr.io/filter:2.3.1) or by digest, and bump it deliberately with each release.",
		Reference: seedRef("use-tags-to-manage-versions"),
		Needs:     []facts.Fact{NeedContainers},
		Reads:     []facts.Setting{facts.SettingImage},
	},
	Eval: func(in *Input) []Result {
		var out []Result
		for _, m := range in.Snap.Modules() {
			img := m.OriginalImage()
			ref, err := parseImage(img)
			r := Result{Module: m.Name}.with("image", img)
			switch {
			case err != nil:
				r.Status, r.Message = Fail, fmt.Sprintf("%s's image %q is not a valid reference: %v", m.Name, img, err)
			case ref.digest != "":
				r.Status, r.Message = Pass, fmt.Sprintf("%s's image is pinned by digest", m.Name)
			case m.IsSystemModule() && !fullVersionRE.MatchString(ref.tag):
				r.Status, r.Message = Fail, fmt.Sprintf("%s uses the rolling tag %q (%s): the runtime changes under you when the tag "+
					"moves; name a full version such as 1.6.8", m.Name, orName(ref.tag, "latest"), img)
			case !m.IsSystemModule() && (ref.tag == "" || ref.tag == "latest"):
				r.Status, r.Message = Fail, fmt.Sprintf("%s's image %s has no version tag (latest): name a version", m.Name, img)
			default:
				r.Status, r.Message = Pass, fmt.Sprintf("%s's image is tagged %s", m.Name, ref.tag)
			}
			out = append(out, r)
		}
		return out
	},
}

var unusedVolumes = &Check{
	Meta: Meta{
		ID: "unused-volumes", Title: "No unused volumes",
		Section: SecContainers, Seed: "Manage volumes", Severity: policy.Warning, Helpful: true,
		Decides: "Counts the engine's volumes that no container (running or not) mounts; more than maxDangling fails.",
		Remediation: "Remove volumes no module uses (`docker volume rm <name>`, or `docker volume prune` after checking), and " +
			"name volumes in createOptions so that recreated modules reuse them.",
		Reference: seedRef("manage-volumes"),
		Needs:     []facts.Fact{NeedContainers, NeedEngineInventory},
		Params: []policy.ParamSpec{{Name: "maxDangling", Kind: policy.Int, Max: 10000, Default: 0,
			Doc: "how many unused volumes are tolerated"}},
	},
	Eval: func(in *Input) []Result {
		used := map[string]bool{}
		for _, c := range in.Snap.Containers {
			for _, m := range c.Mounts {
				if m.Type == "volume" {
					used[m.Name] = true
				}
			}
		}
		type vol struct {
			Name string `json:"name"`
			Size int64  `json:"sizeBytes"`
		}
		var unused []vol
		var total int64
		unknown := 0 // volumes of unknown size (-1: the engine's disk usage was not read)
		for _, v := range in.Snap.Volumes {
			if !used[v.Name] {
				unused = append(unused, vol{v.Name, v.Size})
				if v.Size > 0 {
					total += v.Size
				} else if v.Size < 0 {
					unknown++
				}
			}
		}
		sort.Slice(unused, func(i, j int) bool { return unused[i].Name < unused[j].Name })
		max := in.Params.Int("maxDangling")
		r := Result{}.with("unused", len(unused)).with("volumes", len(in.Snap.Volumes))
		if len(unused) <= max {
			r.Status, r.Message = Pass, fmt.Sprintf("%d of %d volumes unused (at most %d allowed)", len(unused), len(in.Snap.Volumes), max)
			return []Result{r}
		}
		names := make([]string, 0, len(unused))
		for _, v := range unused {
			names = append(names, v.Name)
		}
		if len(names) > 10 {
			names = append(names[:10], fmt.Sprintf("and %d more", len(unused)-10))
		}
		r = r.with("unusedVolumes", unused).with("reclaimableBytes", total)
		size := bytesIEC(total) + " reclaimable"
		switch {
		case unknown == len(unused):
			size = "size unknown"
		case unknown > 0:
			size = "at least " + size
		}
		r.Status, r.Message = Fail, fmt.Sprintf("%s used by no container (%s): %s", pluralVerb(len(unused), "volume is", "volumes are"),
			size, strings.Join(names, ", "))
		return []Result{r}
	},
}

var containerEngineLogrotate = &Check{
	Meta: Meta{
		ID: "container-engine-logrotate", Title: "Container logs are rotated",
		Section: SecSolution, Seed: "Set up default logging driver", Severity: policy.Warning, Helpful: true,
		IotedgeCheck: "container-engine-logrotate",
		Decides: "Each module's effective log configuration (HostConfig.LogConfig, else the engine's default driver): json-file " +
			"must set max-size and max-file; local and journald rotate by themselves; any other driver must be in allowedLogDrivers.",
		Remediation: "Set a default that rotates in /etc/docker/daemon.json, e.g. {\"log-driver\": \"local\"} or {\"log-driver\": " +
			"\"json-file\", \"log-opts\": {\"max-size\": \"10m\", \"max-file\": \"3\"}}, restart the engine and recreate the " +
			"modules; or set LogConfig in each module's createOptions.",
		Reference: seedRef("set-up-default-logging-driver"),
		Needs:     []facts.Fact{NeedContainers},
		Reads:     facts.CreateOptionsAt("HostConfig.LogConfig"),
		Params: []policy.ParamSpec{{Name: "allowedLogDrivers", Kind: policy.StringList,
			Default: []string{"json-file", "local", "journald"}, Doc: "log drivers accepted (json-file only with max-size and max-file)"}},
	},
	Eval: func(in *Input) []Result {
		allowed := in.Params.Strings("allowedLogDrivers")
		var out []Result
		for _, m := range in.Snap.Modules() {
			drv := m.LogConfig.Type
			if drv == "" && in.Snap.Engine == nil {
				// From a deployment manifest: the engine's default is set on the device.
				out = append(out, skip(m.Name, "%s logs with the engine's default driver, which is set on the device "+
					"(/etc/docker/daemon.json), not in the manifest: set LogConfig in its createOptions to decide here", m.Name))
				continue
			}
			if drv == "" {
				drv = in.Snap.Engine.LoggingDriver
			}
			r := Result{Module: m.Name}.with("logDriver", drv).with("logOptions", rotationOptions(m.LogConfig.Config))
			switch {
			case !contains(allowed, drv):
				r.Status, r.Message = Fail, fmt.Sprintf("%s logs with driver %q%s, which is not in allowedLogDrivers (%s)", m.Name, drv, engineDefault(m),
					strings.Join(allowed, ", "))
			case drv == "json-file":
				var missing []string
				for _, o := range []string{"max-size", "max-file"} {
					if m.LogConfig.Config[o] == "" {
						missing = append(missing, o)
					}
				}
				if len(missing) > 0 {
					r.Status, r.Message = Fail, fmt.Sprintf("%s logs with json-file%s without %s: its log grows until the disk is full",
						m.Name, engineDefault(m), strings.Join(missing, " and "))
				} else {
					r.Status, r.Message = Pass, fmt.Sprintf("%s logs with json-file, max-size %s, max-file %s", m.Name,
						m.LogConfig.Config["max-size"], m.LogConfig.Config["max-file"])
				}
			default:
				r.Status, r.Message = Pass, fmt.Sprintf("%s logs with %s%s", m.Name, drv, engineDefault(m))
			}
			out = append(out, r)
		}
		return out
	},
}

var moduleResourceLimits = &Check{
	Meta: Meta{
		ID: "module-resource-limits", Title: "Modules have memory and CPU limits",
		Section: SecSecurity, Seed: "Limit container access to host resources", Severity: policy.Critical,
		Decides: "Each module's HostConfig must set Memory, and NanoCpus or CpuQuota.",
		Remediation: "In the module's createOptions set HostConfig limits, e.g. {\"HostConfig\": {\"Memory\": 268435456, " +
			"\"NanoCpus\": 500000000}}, sized from the module's observed use (edgeAgent_used_memory_bytes).",
		Reference: seedRef("limit-container-access-to-host-resources"),
		Needs:     []facts.Fact{NeedContainers},
		Reads:     facts.CreateOptionsAt("HostConfig.Memory", "HostConfig.NanoCpus", "HostConfig.CpuQuota", "HostConfig.CpuPeriod"),
		Params: []policy.ParamSpec{
			{Name: "fixMemoryBytes", Kind: policy.Int, Max: 1 << 40, Default: 256 << 20,
				Doc: "memory limit `fix` gives a module without one, marked for review (0: none)"},
			{Name: "fixNanoCpus", Kind: policy.Int, Max: 1 << 40, Default: 500000000,
				Doc: "CPU limit in billionths of a CPU `fix` gives a module without one, marked for review (0: none)"},
		},
	},
	Eval: func(in *Input) []Result {
		var out []Result
		for _, m := range in.Snap.Modules() {
			var missing []string
			if m.Memory <= 0 {
				missing = append(missing, "memory")
			}
			if m.NanoCPUs <= 0 && m.CPUQuota <= 0 {
				missing = append(missing, "CPU")
			}
			r := Result{Module: m.Name}.with("memoryBytes", m.Memory).with("nanoCpus", m.NanoCPUs).with("cpuQuota", m.CPUQuota)
			if len(missing) > 0 {
				r.Status, r.Message = Fail, fmt.Sprintf("%s has no %s limit: one runaway module can starve the runtime", m.Name,
					strings.Join(missing, " and no "))
			} else {
				r.Status, r.Message = Pass, fmt.Sprintf("%s is limited to %s of memory and %s CPUs", m.Name, bytesIEC(m.Memory), cpus(m))
			}
			out = append(out, r)
		}
		return out
	},
}

func cpus(m *facts.Container) string {
	if m.NanoCPUs > 0 {
		return fmt.Sprintf("%.2f", float64(m.NanoCPUs)/1e9)
	}
	period := m.CPUPeriod
	if period <= 0 {
		period = 100000
	}
	return fmt.Sprintf("%.2f", float64(m.CPUQuota)/float64(period))
}

// rotationOptions keeps the log options that say how logs rotate; the others
// (a splunk-token, a fluentd address) may be secrets and stay on the device.
func rotationOptions(opts map[string]string) map[string]string {
	out := map[string]string{}
	for _, k := range []string{"max-size", "max-file", "compress", "mode"} {
		if v, ok := opts[k]; ok {
			out[k] = v
		}
	}
	return out
}

func engineDefault(m *facts.Container) string {
	if m.LogConfig.Type == "" {
		return " (the engine's default driver)"
	}
	return ""
}
