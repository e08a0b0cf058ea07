package checks

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/edge-readiness/edge-readiness/internal/facts"
	"github.com/edge-readiness/edge-readiness/internal/policy"
)

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
		msg := fmt.Sprintf("the host uses %s of %s of memory (%.0f%%)", bytesIEC(int64(used)), bytesIEC(int64(total)), 100*ratio)
		if ratio > max {
			r.Status, r.Message = Fail, fmt.Sprintf("%s, more than %.0f%%", msg, 100*max)
		} else {
			r.Status, r.Message = Pass, msg
		}
		return []Result{r}
	},
}

// MaxGrowthCycles bounds growthCycles: the runner keeps that many earlier
// snapshots for edgehub-queue-backlog, so any allowed value can be decided.
const MaxGrowthCycles = 6

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

// counterCheck builds a check that fails when counters grew since the last cycle.
func counterCheck(meta Meta, source string, counters []counterSpec) *Check {
	meta.History = max(meta.History, 1) // the previous cycle's counters
	return &Check{Meta: meta, Eval: func(in *Input) []Result {
		cur := in.Snap.Metrics[source]
		prev := prevScrape(in, source)
		var grew []string
		ev := map[string]any{}
		totalResets := 0
		for _, c := range counters {
			d, baseline, resets := counterDelta(prev, cur, c.name, c.match)
			if !baseline {
				msg := noBaseline
				if in.Prev != nil {
					msg = "the previous cycle has no usable " + source + " metrics: nothing to compare counters with yet"
				}
				return []Result{pass("", "%s", msg).with("baseline", false)}
			}
			if c.exclude != nil {
				dx, _, _ := counterDelta(prev, cur, c.name, c.exclude)
				d -= dx
			}
			totalResets += resets
			ev[c.label] = d
			if d > 0 {
				grew = append(grew, fmt.Sprintf("%.0f %s", d, c.label))
				if d == 1 {
					grew[len(grew)-1] = "1 " + c.one
				}
			}
		}
		r := Result{Evidence: ev}.with("since", in.Prev.Time).with("counterResets", totalResets)
		if len(grew) > 0 {
			r.Status, r.Message = Fail, fmt.Sprintf("since the last cycle: %s", strings.Join(grew, ", "))
		} else {
			r.Status, r.Message = Pass, "no growth since the last cycle"
			if totalResets > 0 {
				r.Message += " (the process restarted: counters reset)"
			}
		}
		return []Result{r}
	}}
}

type counterSpec struct {
	name    string
	match   map[string]string
	exclude map[string]string // a subset of match to subtract
	label   string            // plural: "messages dropped"
	one     string            // singular: "message dropped"
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
