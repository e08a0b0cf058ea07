package checks_test

import (
	"math"
	"testing"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/facts"
	"github.com/edge-readiness/edge-readiness/internal/policy"
)

const (
	availDisk = "edgeAgent_available_disk_space_bytes"
	totalDisk = "edgeAgent_total_disk_space_bytes"
)

func TestDiskSpace(t *testing.T) {
	// The good device's disk sda1 has 64 GiB.
	free := func(ratio float64) func(*facts.Snapshot) {
		return func(s *facts.Snapshot) { setSample(s, facts.EdgeAgent, availDisk, ratio*float64(64*gib)) }
	}
	disk := func(name string, avail, total int64) func(*facts.Snapshot) {
		return func(s *facts.Snapshot) {
			l := map[string]string{"disk_name": name, "disk_filesystem": "ext4", "disk_filetype": "SSD"}
			addSample(s, facts.EdgeAgent, availDisk, l, float64(avail))
			addSample(s, facts.EdgeAgent, totalDisk, l, float64(total))
		}
	}
	runCases(t, "disk-space", []checkCase{
		{
			name: "50% free passes",
			want: []want{{subject: "sda1", status: checks.Pass, msg: "disk sda1 has 32.0 GiB free of 64.0 GiB (50.0%)", severity: policy.Critical}},
		},
		{
			name:   "15% free fails as a warning",
			mutate: free(0.15),
			want: []want{{subject: "sda1", status: checks.Fail, severity: policy.Warning,
				msg: "disk sda1 has 9.6 GiB free of 64.0 GiB (15.0%), under the warning threshold of 20%"}},
		},
		{
			name:   "5% free fails critically",
			mutate: free(0.05),
			want: []want{{subject: "sda1", status: checks.Fail, severity: policy.Critical,
				msg: "(5.0%), under the critical threshold of 10%"}},
		},
		{
			name:   "policy severity warning keeps 5% at warning",
			mutate: free(0.05),
			policy: `{"checks":{"disk-space":{"severity":"warning"}}}`,
			want:   []want{{subject: "sda1", status: checks.Fail, severity: policy.Warning, msg: "under the critical threshold"}},
		},
		{
			name:   "policy severity info keeps 15% at info",
			mutate: free(0.15),
			policy: `{"checks":{"disk-space":{"severity":"info"}}}`,
			want:   []want{{subject: "sda1", status: checks.Fail, severity: policy.Info, msg: "under the warning threshold"}},
		},
		{
			name:   "params move the thresholds",
			policy: `{"checks":{"disk-space":{"params":{"criticalFreeRatio":0.6,"warningFreeRatio":0.7}}}}`,
			want: []want{{subject: "sda1", status: checks.Fail, severity: policy.Critical,
				msg: "under the critical threshold of 60%"}},
		},
		{
			name:   "each disk is its own finding",
			mutate: disk("mmcblk0p1", 100*mib, 2*gib),
			want: []want{
				{subject: "mmcblk0p1", status: checks.Fail, severity: policy.Critical, msg: "disk mmcblk0p1 has 100.0 MiB free of 2.0 GiB (4.9%)"},
				{subject: "sda1", status: checks.Pass, msg: "disk sda1"},
			},
		},
		{
			name: "no disk samples skips with a reason",
			mutate: func(s *facts.Snapshot) {
				removeSamples(s, facts.EdgeAgent, availDisk)
				removeSamples(s, facts.EdgeAgent, totalDisk)
			},
			want: []want{{status: checks.Skip, msg: "edgeAgent reports no disk metrics yet"}},
		},
		{
			name:   "NaN total skips",
			mutate: func(s *facts.Snapshot) { setSample(s, facts.EdgeAgent, totalDisk, math.NaN()) },
			want:   []want{{subject: "sda1", status: checks.Skip, msg: `edgeAgent reports no usable total size for disk "sda1"`}},
		},
		{
			name:   "NaN available skips",
			mutate: func(s *facts.Snapshot) { setSample(s, facts.EdgeAgent, availDisk, math.NaN()) },
			want:   []want{{subject: "sda1", status: checks.Skip, msg: `no usable free space for disk "sda1"`}},
		},
		{
			name:   "available without a total skips",
			mutate: func(s *facts.Snapshot) { removeSamples(s, facts.EdgeAgent, totalDisk) },
			want:   []want{{subject: "sda1", status: checks.Skip, msg: `disk "sda1"`}},
		},
		{
			name: "edgeAgent scrape error is an error naming it",
			mutate: func(s *facts.Snapshot) {
				s.Metrics[facts.EdgeAgent] = &facts.Scrape{Endpoint: "http://edgeAgent:9600/metrics", Time: snapTime,
					Error: `reading metrics from http://edgeAgent:9600/metrics: Get "http://edgeAgent:9600/metrics": dial tcp: lookup edgeAgent on 127.0.0.11:53: no such host`}
			},
			want: []want{{status: checks.Error, severity: policy.Critical,
				msg: "cannot decide without edgeAgent metrics: reading metrics from http://edgeAgent:9600/metrics: Get"}},
		},
		{
			name:   "edgeAgent not scraped is an error",
			mutate: func(s *facts.Snapshot) { delete(s.Metrics, facts.EdgeAgent) },
			want:   []want{{status: checks.Error, msg: "cannot decide without edgeAgent metrics: not scraped"}},
		},
	})
}

func TestMetricsEndpoints(t *testing.T) {
	runCases(t, "metrics-endpoints", []checkCase{
		{
			name: "both readable pass",
			want: []want{
				{module: "edgeHub", status: checks.Pass, msg: "edgeHub metrics read from http://edgeHub:9600/metrics (2 samples)"},
				{module: "edgeAgent", status: checks.Pass, msg: "edgeAgent metrics read from http://edgeAgent:9600/metrics (15 samples)"},
			},
		},
		{
			name: "an unreadable endpoint fails naming the error",
			mutate: func(s *facts.Snapshot) {
				s.Metrics[facts.EdgeHub] = &facts.Scrape{Endpoint: "http://edgeHub:9600/metrics", Time: snapTime,
					Error: "reading metrics from http://edgeHub:9600/metrics: HTTP status 404 Not Found"}
			},
			want: []want{{module: "edgeHub", status: checks.Fail,
				msg: "edgeHub metrics cannot be read: reading metrics from http://edgeHub:9600/metrics: HTTP status 404 Not Found"}},
		},
		{
			name: "an unparsable page fails naming where it broke",
			mutate: func(s *facts.Snapshot) {
				s.Metrics[facts.EdgeAgent] = &facts.Scrape{Endpoint: "http://edgeAgent:9600/metrics", Time: snapTime,
					Error: "from http://edgeAgent:9600/metrics: parsing metrics: text format parsing error in line 3: expected float as value"}
			},
			want: []want{{module: "edgeAgent", status: checks.Fail, msg: "text format parsing error in line 3"}},
		},
		{
			name:   "an endpoint not scraped skips",
			mutate: func(s *facts.Snapshot) { delete(s.Metrics, facts.EdgeHub) },
			want:   []want{{module: "edgeHub", status: checks.Skip, msg: "edgeHub metrics were not scraped"}},
		},
	})
}

func TestIothubSync(t *testing.T) {
	runCycles(t, "iothub-sync", []cycleCase{
		{
			name: "first cycle: no baseline",
			now:  syncs(instA, 40),
			want: []want{{status: checks.Pass, severity: policy.Warning, msg: "first cycle: no baseline yet to compare counters with"}},
		},
		{
			name:    "steady",
			earlier: []func(*facts.Snapshot){syncs(instA, 3)},
			now:     syncs(instA, 3),
			want:    []want{{status: checks.Pass, msg: "no growth since the last cycle"}},
		},
		{
			name:    "growth fails",
			earlier: []func(*facts.Snapshot){syncs(instA, 3)},
			now:     syncs(instA, 5),
			want:    []want{{status: checks.Fail, severity: policy.Warning, msg: "since the last cycle: 2 failed syncs"}},
		},
		{
			name:    "edgeAgent restarted (new instance_number): no negative rate, no alarm",
			earlier: []func(*facts.Snapshot){syncs(instA, 40)},
			now:     syncs(instB, 0),
			want:    []want{{status: checks.Pass, msg: "no growth since the last cycle (the process restarted: counters reset)"}},
		},
		{
			name:    "the value went down (same labels): a reset, not a negative rate",
			earlier: []func(*facts.Snapshot){syncs("", 40)},
			now:     syncs("", 0),
			want:    []want{{status: checks.Pass, msg: "(the process restarted: counters reset)"}},
		},
		{
			name:    "failures after the restart are still caught",
			earlier: []func(*facts.Snapshot){syncs(instA, 40)},
			now:     syncs(instB, 3),
			want:    []want{{status: checks.Fail, msg: "since the last cycle: 3 failed syncs"}},
		},
		{
			name:    "a series that appeared counts from zero",
			earlier: []func(*facts.Snapshot){nil},
			now:     syncs(instA, 2),
			want:    []want{{status: checks.Fail, msg: "2 failed syncs"}},
		},
		{
			name:    "the previous scrape failed: no baseline",
			earlier: []func(*facts.Snapshot){func(s *facts.Snapshot) { s.Metrics[facts.EdgeAgent] = &facts.Scrape{Error: "connection refused"} }},
			now:     syncs(instA, 2),
			want:    []want{{status: checks.Pass, msg: "the previous cycle has no usable edgeAgent metrics"}},
		},
		{
			name:    "the development profile reports it as info",
			earlier: []func(*facts.Snapshot){syncs(instA, 3)},
			now:     syncs(instA, 5),
			policy:  `{"profile":"development"}`,
			want:    []want{{status: checks.Fail, severity: policy.Info, msg: "2 failed syncs"}},
		},
	})

	// The evidence holds the growth, never a negative number.
	in := cycleInput(t, cycleCase{earlier: []func(*facts.Snapshot){syncs(instA, 40)}, now: syncs(instB, 0)})
	f := only(t, byID(checks.Run(checks.All(), in, decodePolicy(t, "")), "iothub-sync"))
	if f.Evidence["failed syncs"] != 0.0 || f.Evidence["counterResets"] != 1 {
		t.Errorf("evidence %v, want 0 failed syncs and 1 reset", f.Evidence)
	}
}

func TestEdgehubMessagesDropped(t *testing.T) {
	before := all(dropped(instA, "no_route", 10), dropped(instA, "ttl_expiry", 100), unack(instA, 1))
	runCycles(t, "edgehub-messages-dropped", []cycleCase{
		{name: "first cycle: no baseline", now: before, want: []want{{status: checks.Pass, severity: policy.Warning, msg: "first cycle: no baseline yet"}}},
		{name: "steady", earlier: []func(*facts.Snapshot){before}, now: before, want: []want{{status: checks.Pass, msg: "no growth since the last cycle"}}},
		{
			name:    "no_route grows",
			earlier: []func(*facts.Snapshot){before},
			now:     all(dropped(instA, "no_route", 15), dropped(instA, "ttl_expiry", 100), unack(instA, 1)),
			want:    []want{{status: checks.Fail, severity: policy.Warning, msg: "since the last cycle: 5 messages dropped"}},
		},
		{
			name:    "expired messages are edgehub-message-ttl's, not this check's",
			earlier: []func(*facts.Snapshot){before},
			now:     all(dropped(instA, "no_route", 10), dropped(instA, "ttl_expiry", 180), unack(instA, 1)),
			want:    []want{{status: checks.Pass, msg: "no growth since the last cycle"}},
		},
		{
			name:    "drops and unacknowledged messages together",
			earlier: []func(*facts.Snapshot){before},
			now:     all(dropped(instA, "no_route", 15), dropped(instA, "ttl_expiry", 100), unack(instA, 4)),
			want:    []want{{status: checks.Fail, msg: "since the last cycle: 5 messages dropped, 3 messages not acknowledged"}},
		},
		{
			name:    "edgeHub restarted: counters back to zero",
			earlier: []func(*facts.Snapshot){before},
			now:     all(dropped(instB, "no_route", 0), dropped(instB, "ttl_expiry", 0), unack(instB, 0)),
			want:    []want{{status: checks.Pass, msg: "(the process restarted: counters reset)"}},
		},
		{
			name:    "edgeHub restarted and dropped since",
			earlier: []func(*facts.Snapshot){before},
			now:     all(dropped(instB, "no_route", 2), dropped(instB, "ttl_expiry", 50), unack(instB, 0)),
			want:    []want{{status: checks.Fail, msg: "since the last cycle: 2 messages dropped"}},
		},
		{
			name:    "edgeHub's metrics unreadable now: error",
			earlier: []func(*facts.Snapshot){before},
			now:     func(s *facts.Snapshot) { s.Metrics[facts.EdgeHub].Error = "HTTP status 503" },
			want:    []want{{status: checks.Error, severity: policy.Warning, msg: "cannot decide without edgeHub metrics: HTTP status 503"}},
		},
	})
}

func TestUpstreamOffline(t *testing.T) {
	runCycles(t, "upstream-offline", []cycleCase{
		{name: "first cycle: no baseline", now: offline(instA, 4), want: []want{{status: checks.Pass, msg: "first cycle: no baseline yet"}}},
		{name: "steady", earlier: []func(*facts.Snapshot){offline(instA, 4)}, now: offline(instA, 4), want: []want{{status: checks.Pass, msg: "no growth"}}},
		{
			name: "went offline", earlier: []func(*facts.Snapshot){offline(instA, 4)}, now: offline(instA, 6),
			want: []want{{status: checks.Fail, severity: policy.Warning, msg: "since the last cycle: 2 times offline"}},
		},
		{
			name: "edgeHub restarted", earlier: []func(*facts.Snapshot){offline(instA, 4)}, now: offline(instB, 0),
			want: []want{{status: checks.Pass, msg: "counters reset"}},
		},
		{
			name: "edgeHub restarted and went offline since", earlier: []func(*facts.Snapshot){offline(instA, 4)}, now: offline(instB, 1),
			want: []want{{status: checks.Fail, msg: "1 time offline"}},
		},
		{
			name: "an exemption while the site's uplink is being replaced", earlier: []func(*facts.Snapshot){offline(instA, 4)}, now: offline(instA, 6),
			policy: `{"exemptions":{"uplink":{"checks":["upstream-offline"],"reason":"LTE uplink replaced this week","expires":"2025-06-07"}}}`,
			want:   []want{{status: checks.Skip, msg: "exempted by policy (uplink): LTE uplink replaced this week"}},
		},
	})
}

func TestEdgehubQueueBacklog(t *testing.T) {
	runCycles(t, "edgehub-queue-backlog", []cycleCase{
		{name: "good device", want: []want{{subject: "iothub", status: checks.Pass, severity: policy.Warning, msg: "edgeHub holds 0 messages for endpoint iothub"}}},
		{
			name: "over maxQueueLength", now: queue(1500),
			want: []want{{subject: "iothub", status: checks.Fail, severity: policy.Warning, msg: "edgeHub holds 1500 messages for endpoint iothub (more than 1000)"}},
		},
		{
			name: "grown for 3 cycles in a row", earlier: queues(10, 20, 30), now: queue(40),
			want: []want{{subject: "iothub", status: checks.Fail, msg: "edgeHub's queue for endpoint iothub has grown for 3 cycles in a row (now 40)"}},
		},
		{
			name: "grown for 2 cycles only", earlier: queues(20, 30), now: queue(40),
			want: []want{{subject: "iothub", status: checks.Pass, msg: "edgeHub holds 40 messages"}},
		},
		{
			name: "growth interrupted", earlier: queues(10, 20, 15, 30), now: queue(40),
			want: []want{{subject: "iothub", status: checks.Pass, msg: "edgeHub holds 40 messages"}},
		},
		{
			name: "flat", earlier: queues(40, 40, 40), now: queue(40),
			want: []want{{subject: "iothub", status: checks.Pass, msg: "edgeHub holds 40 messages"}},
		},
		{
			name: "growthCycles from policy", earlier: queues(20, 30), now: queue(40),
			policy: `{"checks":{"edgehub-queue-backlog":{"params":{"growthCycles":2}}}}`,
			want:   []want{{subject: "iothub", status: checks.Fail, msg: "has grown for 2 cycles in a row"}},
		},
		{
			name: "a failed scrape breaks the streak",
			earlier: []func(*facts.Snapshot){queue(10), func(s *facts.Snapshot) {
				s.Metrics[facts.EdgeHub] = &facts.Scrape{Error: "connection refused"}
			}, queue(30)},
			now:  queue(40),
			want: []want{{subject: "iothub", status: checks.Pass, msg: "holds 40 messages"}},
		},
		{
			name: "per endpoint, summed over priorities",
			now: func(s *facts.Snapshot) {
				for _, p := range []string{"0", "2000000000"} {
					addSample(s, facts.EdgeHub, "edgehub_queue_length", map[string]string{"endpoint": "filter/input1", "priority": p}, 600)
				}
			},
			want: []want{
				{subject: "filter/input1", status: checks.Fail, msg: "edgeHub holds 1200 messages for endpoint filter/input1 (more than 1000)"},
				{subject: "iothub", status: checks.Pass, msg: "holds 0 messages"},
			},
		},
		{
			name: "NaN gauges are ignored",
			now: func(s *facts.Snapshot) {
				addSample(s, facts.EdgeHub, "edgehub_queue_length", map[string]string{"endpoint": "iothub", "priority": "0"}, math.NaN())
			},
			want: []want{{subject: "iothub", status: checks.Pass, msg: "holds 0 messages"}},
		},
		{
			name: "no queue reported",
			now:  func(s *facts.Snapshot) { removeSamples(s, facts.EdgeHub, "edgehub_queue_length") },
			want: []want{{status: checks.Pass, msg: "edgeHub reports no queued messages"}},
		},
	})
}

func TestMemoryPressure(t *testing.T) {
	used := func(ratio float64) func(*facts.Snapshot) {
		return func(s *facts.Snapshot) {
			setSample(s, facts.EdgeAgent, "edgeAgent_used_memory_bytes", ratio*float64(8*gib))
		}
	}
	runCases(t, "memory-pressure", []checkCase{
		{name: "good device", want: []want{{status: checks.Pass, severity: policy.Warning, msg: "the host uses 2.0 GiB of 8.0 GiB of memory (25%)"}}},
		{name: "95% fails", mutate: used(0.95), want: []want{{status: checks.Fail, severity: policy.Warning, msg: "the host uses 7.6 GiB of 8.0 GiB of memory (95%), more than 90%"}}},
		{name: "exactly 90% passes", mutate: used(0.90), want: []want{{status: checks.Pass, msg: "(90%)"}}},
		{
			name: "maxUsedRatio from policy", mutate: used(0.95),
			policy: `{"checks":{"memory-pressure":{"params":{"maxUsedRatio":0.97}}}}`,
			want:   []want{{status: checks.Pass, msg: "(95%)"}},
		},
		{
			name: "a module's memory is not the host's",
			mutate: func(s *facts.Snapshot) {
				addSample(s, facts.EdgeAgent, "edgeAgent_used_memory_bytes", map[string]string{"module_name": "filter"}, float64(8*gib))
			},
			want: []want{{status: checks.Pass, msg: "(25%)"}},
		},
		{
			name:   "no host memory metrics yet: skip",
			mutate: func(s *facts.Snapshot) { removeSamples(s, facts.EdgeAgent, "edgeAgent_total_memory_bytes") },
			want:   []want{{status: checks.Skip, msg: "edgeAgent reports no host memory metrics yet"}},
		},
		{
			name:   "edgeAgent's metrics unreadable: error",
			mutate: func(s *facts.Snapshot) { s.Metrics[facts.EdgeAgent].Error = "connection refused" },
			want:   []want{{status: checks.Error, msg: "cannot decide without edgeAgent metrics: connection refused"}},
		},
		{name: "the development profile reports it as info", mutate: used(0.95), policy: `{"profile":"development"}`,
			want: []want{{status: checks.Fail, severity: policy.Info, msg: "more than 90%"}}},
	})
}

func syncs(inst string, v float64) func(*facts.Snapshot) {
	return counter(facts.EdgeAgent, "edgeAgent_unsuccessful_iothub_syncs_total",
		map[string]string{"iothub": "contoso-hub.azure-devices.net", "edge_device": "edge-01", "instance_number": inst}, v)
}

func unack(inst string, v float64) func(*facts.Snapshot) {
	return counter(facts.EdgeHub, "edgehub_messages_unack_total",
		map[string]string{"from": "edge-01/filter", "from_route_output": "out1", "reason": "storage_failure", "instance_number": inst}, v)
}

func offline(inst string, v float64) func(*facts.Snapshot) {
	return counter(facts.EdgeHub, "edgehub_offline_count_total",
		map[string]string{"iothub": "contoso-hub.azure-devices.net", "edge_device": "edge-01", "id": "edge-01/$edgeHub", "instance_number": inst}, v)
}

func queue(v float64) func(*facts.Snapshot) {
	return func(s *facts.Snapshot) { setSample(s, facts.EdgeHub, "edgehub_queue_length", v) }
}

func queues(vs ...float64) []func(*facts.Snapshot) {
	out := make([]func(*facts.Snapshot), len(vs))
	for i, v := range vs {
		out[i] = queue(v)
	}
	return out
}
