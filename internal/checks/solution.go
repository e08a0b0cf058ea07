package checks

import (
	"fmt"
	"strings"

	"github.com/edge-readiness/edge-readiness/internal/facts"
	"github.com/edge-readiness/edge-readiness/internal/policy"
)

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
