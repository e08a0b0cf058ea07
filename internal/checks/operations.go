package checks

import (
	"fmt"
	"math"
	"sort"

	"github.com/edge-readiness/edge-readiness/internal/facts"
	"github.com/edge-readiness/edge-readiness/internal/policy"
)

var diskSpace = &Check{
	Meta: Meta{
		ID: "disk-space", Title: "Disks have free space",
		Section: SecOperations, Seed: "Set up logs and diagnostics", Severity: policy.Critical,
		Decides: "For each disk edgeAgent reports (edgeAgent_available_disk_space_bytes / edgeAgent_total_disk_space_bytes): " +
			"under criticalFreeRatio free fails at the policy's severity, under warningFreeRatio fails as a warning.",
		Remediation: "Free space on the disk: prune unused images and volumes (`docker image prune -a`, `docker volume prune`), " +
			"rotate container logs, shorten edgeHub's timeToLiveSecs, or grow the disk.",
		Reference: "https://learn.microsoft.com/azure/iot-edge/how-to-access-built-in-metrics",
		Needs:     []facts.Fact{NeedEdgeAgentStats},
		Params: []policy.ParamSpec{
			{Name: "criticalFreeRatio", Kind: policy.Ratio, Default: 0.10, Doc: "free ratio under which a disk fails critically"},
			{Name: "warningFreeRatio", Kind: policy.Ratio, Default: 0.20, Doc: "free ratio under which a disk fails as a warning"},
		},
	},
	Eval: func(in *Input) []Result {
		sc := in.Snap.Metrics[facts.EdgeAgent]
		total := map[string]float64{}
		for _, s := range sc.Find("edgeAgent_total_disk_space_bytes", nil) {
			total[s.Labels["disk_name"]] = s.Value
		}
		crit, warn := in.Params.Float("criticalFreeRatio"), in.Params.Float("warningFreeRatio")
		var out []Result
		for _, s := range sc.Find("edgeAgent_available_disk_space_bytes", nil) {
			disk := s.Labels["disk_name"]
			t, ok := total[disk]
			if !ok || t <= 0 || math.IsNaN(t) {
				out = append(out, skip("", "edgeAgent reports no usable total size for disk %q", disk).about(disk))
				continue
			}
			if math.IsNaN(s.Value) || s.Value < 0 {
				out = append(out, skip("", "edgeAgent reports no usable free space for disk %q", disk).about(disk))
				continue
			}
			ratio := s.Value / t
			r := Result{Subject: disk}.with("disk", disk).with("availableBytes", int64(s.Value)).with("totalBytes", int64(t)).
				with("freeRatio", roundTo(ratio, 4)).with("filesystem", s.Labels["disk_filesystem"])
			msg := fmt.Sprintf("disk %s has %s free of %s (%.1f%%)", disk, bytesIEC(int64(s.Value)), bytesIEC(int64(t)), 100*ratio)
			switch {
			case ratio < crit:
				r.Status, r.Message = Fail, fmt.Sprintf("%s, under the critical threshold of %.0f%%", msg, 100*crit)
			case ratio < warn:
				r.Status, r.Message = Fail, fmt.Sprintf("%s, under the warning threshold of %.0f%%", msg, 100*warn)
				r = r.lower(policy.Warning)
			default:
				r.Status, r.Message = Pass, msg
			}
			out = append(out, r)
		}
		if len(out) == 0 {
			return []Result{skip("", "edgeAgent reports no disk metrics yet (they are refreshed every PerformanceMetricsUpdateFrequency, 5 minutes by default)")}
		}
		sort.SliceStable(out, func(i, j int) bool { return out[i].Subject < out[j].Subject })
		return out
	},
}

var metricsEndpoints = &Check{
	Meta: Meta{
		ID: "metrics-endpoints", Title: "edgeHub and edgeAgent metrics are readable",
		Section: SecOperations, Seed: "Set up logs and diagnostics", Severity: policy.Warning, Helpful: true,
		Decides: "GET on each built-in metrics endpoint (default http://edgeHub:9600/metrics and http://edgeAgent:9600/metrics, " +
			"or the container's address when the module runs outside the azure-iot-edge network) must answer 200 with " +
			"parsable Prometheus text.",
		Remediation: "Keep metrics enabled (do not set MetricsEnabled=false on edgeHub or edgeAgent), keep port 9600 open on the " +
			"azure-iot-edge network, and run this module on that network, or set metrics.edgeHub / metrics.edgeAgent in the policy.",
		Reference: "https://learn.microsoft.com/azure/iot-edge/how-to-access-built-in-metrics",
	},
	Eval: func(in *Input) []Result {
		var out []Result
		for _, name := range []string{facts.EdgeHub, facts.EdgeAgent} {
			sc := in.Snap.Metrics[name]
			switch {
			case sc == nil:
				if st := in.Snap.Fact(facts.Fact("metrics:" + name)); st.Status == facts.StatusNotApplicable {
					out = append(out, skip(name, "%s", st.Reason)) // a support bundle holds no metrics
					continue
				}
				out = append(out, skip(name, "%s metrics were not scraped", name))
			case !sc.OK():
				out = append(out, fail(name, "%s metrics cannot be read: %s", name, sc.Error).with("endpoint", sc.Endpoint))
			default:
				out = append(out, pass(name, "%s metrics read from %s (%d samples)", name, sc.Endpoint, len(sc.Samples)).
					with("endpoint", sc.Endpoint).with("samples", len(sc.Samples)))
			}
		}
		return out
	},
}
