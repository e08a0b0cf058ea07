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
			msg := fmt.Sprintf("disk %s has %s free of %s (%.1f%%)", disk, facts.BytesIEC(int64(s.Value)), facts.BytesIEC(int64(t)), 100*ratio)
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

const metricsRef = "https://learn.microsoft.com/azure/iot-edge/how-to-access-built-in-metrics"

var memoryPressure = &Check{
	Meta: Meta{
		ID: "memory-pressure", Title: "Host memory is not exhausted",
		Section: SecOperations, Seed: "Reduce memory space used by IoT Edge hub", Severity: policy.Warning, Helpful: true,
		Decides:     "edgeAgent_used_memory_bytes / edgeAgent_total_memory_bytes for module_name=\"host\" must not exceed maxUsedRatio.",
		Remediation: "Find the modules using the most memory (edgeAgent_used_memory_bytes by module_name), set memory limits, reduce edgeHub's memory use (OptimizeForPerformance=false, shorter TTL), or add memory.",
		Reference:   metricsRef,
		Needs:       []facts.Fact{NeedEdgeAgentStats},
		Params:      []policy.ParamSpec{{Name: "maxUsedRatio", Kind: policy.Ratio, Default: 0.90, Doc: "share of host memory in use that fails"}},
	},
	Eval: func(in *Input) []Result {
		sc := in.Snap.Metrics[facts.EdgeAgent]
		used, ok1 := gaugeSum(sc, "edgeAgent_used_memory_bytes", map[string]string{"module_name": "host"})
		total, ok2 := gaugeSum(sc, "edgeAgent_total_memory_bytes", map[string]string{"module_name": "host"})
		if !ok1 || !ok2 || total <= 0 {
			return []Result{skip("", "edgeAgent reports no host memory metrics yet (refreshed every PerformanceMetricsUpdateFrequency, 5 minutes by default)")}
		}
		ratio := used / total
		max := in.Params.Float("maxUsedRatio")
		r := Result{}.with("usedBytes", int64(used)).with("totalBytes", int64(total)).with("usedRatio", roundTo(ratio, 4))
		msg := fmt.Sprintf("the host uses %s of %s of memory (%.0f%%)", facts.BytesIEC(int64(used)), facts.BytesIEC(int64(total)), 100*ratio)
		if ratio > max {
			r.Status, r.Message = Fail, fmt.Sprintf("%s, more than %.0f%%", msg, 100*max)
		} else {
			r.Status, r.Message = Pass, msg
		}
		return []Result{r}
	},
}

var edgehubQueueBacklog = &Check{
	Meta: Meta{
		ID: "edgehub-queue-backlog", Title: "edgeHub's queues drain",
		Section: SecOperations, Seed: "Reduce storage time for messages", Severity: policy.Warning, Helpful: true,
		Decides: "Sums edgehub_queue_length per endpoint: fails when it exceeds maxQueueLength, or when it has grown in each " +
			"of the last growthCycles cycles.",
		Remediation: "Check edgeHub's upstream connectivity and the endpoint's consumer (a module that stopped reading its input); reduce the message rate or raise the throughput.",
		Reference:   seedRef("reduce-storage-time-for-messages"),
		Needs:       []facts.Fact{NeedEdgeHubStats},
		History:     MaxGrowthCycles,
		Params: []policy.ParamSpec{
			{Name: "maxQueueLength", Kind: policy.Int, Max: 1 << 31, Default: 1000, Doc: "messages queued for one endpoint that fail"},
			{Name: "growthCycles", Kind: policy.Int, Max: MaxGrowthCycles, Default: 3, Doc: "cycles of uninterrupted growth that fail"},
		},
	},
	Eval: func(in *Input) []Result {
		cur := queueByEndpoint(in.Snap.Metrics[facts.EdgeHub])
		if len(cur) == 0 {
			return []Result{pass("", "edgeHub reports no queued messages")}
		}
		maxLen, cycles := float64(in.Params.Int("maxQueueLength")), in.Params.Int("growthCycles")
		var hist []map[string]float64 // oldest first, then the current one
		for _, h := range in.History {
			hist = append(hist, queueByEndpoint(h.Metrics[facts.EdgeHub]))
		}
		hist = append(hist, cur)
		eps := make([]string, 0, len(cur))
		for ep := range cur {
			eps = append(eps, ep)
		}
		sort.Strings(eps)
		var out []Result
		for _, ep := range eps {
			n := cur[ep]
			r := Result{Subject: ep}.with("endpoint", ep).with("queueLength", n)
			grown := growthStreak(hist, ep)
			switch {
			case n > maxLen:
				r.Status, r.Message = Fail, fmt.Sprintf("edgeHub holds %.0f messages for endpoint %s (more than %.0f)", n, ep, maxLen)
			case cycles > 0 && grown >= cycles:
				r.Status, r.Message = Fail, fmt.Sprintf("edgeHub's queue for endpoint %s has grown for %d cycles in a row (now %.0f)", ep, grown, n)
			default:
				r.Status, r.Message = Pass, fmt.Sprintf("edgeHub holds %.0f messages for endpoint %s", n, ep)
			}
			out = append(out, r.with("growthCycles", grown))
		}
		return out
	},
}

func queueByEndpoint(s *facts.Scrape) map[string]float64 {
	out := map[string]float64{}
	for _, smp := range s.Find("edgehub_queue_length", nil) {
		if !math.IsNaN(smp.Value) {
			out[orName(smp.Labels["endpoint"], "(none)")] += smp.Value
		}
	}
	return out
}

// growthStreak counts the consecutive most recent cycles in which ep's queue grew.
func growthStreak(hist []map[string]float64, ep string) int {
	n := 0
	for i := len(hist) - 1; i > 0; i-- {
		cur, ok1 := hist[i][ep]
		prev, ok2 := hist[i-1][ep]
		if !ok1 || !ok2 || cur <= prev {
			break
		}
		n++
	}
	return n
}

var edgehubMessagesDropped = counterCheck(Meta{
	ID: "edgehub-messages-dropped", Title: "edgeHub drops no messages",
	Section: SecOperations, Seed: "Reduce storage time for messages", Severity: policy.Warning, Helpful: true,
	Decides: "edgehub_messages_dropped_total (reasons other than ttl_expiry) and edgehub_messages_unack_total must not grow " +
		"between cycles; counter resets (a new instance_number) count from zero.",
	Remediation: "no_route: add a route for the output or stop sending to it; storage_failure: check edgeHub's storage mount and free disk space.",
	Reference:   metricsRef,
	Needs:       []facts.Fact{NeedEdgeHubStats},
}, facts.EdgeHub, []counterSpec{
	{name: "edgehub_messages_dropped_total", exclude: map[string]string{"reason": "ttl_expiry"}, label: "messages dropped", one: "message dropped"},
	{name: "edgehub_messages_unack_total", label: "messages not acknowledged", one: "message not acknowledged"},
})

var upstreamOffline = counterCheck(Meta{
	ID: "upstream-offline", Title: "edgeHub stays connected upstream",
	Section: SecOperations, Seed: "Review outbound/inbound configuration", Severity: policy.Warning, Helpful: true,
	Decides:     "edgehub_offline_count_total must not grow between cycles.",
	Remediation: "Check the device's connection to IoT Hub (firewall rules for the upstream protocol's port, proxy, DNS) and edgeHub's logs.",
	Reference:   seedRef("review-outboundinbound-configuration"),
	Needs:       []facts.Fact{NeedEdgeHubStats},
}, facts.EdgeHub, []counterSpec{
	{name: "edgehub_offline_count_total", label: "times offline", one: "time offline"},
})

var iothubSync = counterCheck(Meta{
	ID: "iothub-sync", Title: "edgeAgent syncs with IoT Hub",
	Section: SecOperations, Seed: "Review outbound/inbound configuration", Severity: policy.Warning, Helpful: true,
	Decides:     "edgeAgent_unsuccessful_iothub_syncs_total must not grow between cycles.",
	Remediation: "edgeAgent cannot fetch its deployment: check upstream connectivity and edgeAgent's logs (`iotedge logs edgeAgent`).",
	Reference:   metricsRef,
	Needs:       []facts.Fact{NeedEdgeAgentStats},
}, facts.EdgeAgent, []counterSpec{
	{name: "edgeAgent_unsuccessful_iothub_syncs_total", label: "failed syncs", one: "failed sync"},
})
