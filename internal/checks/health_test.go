package checks_test

import (
	"math"
	"testing"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/facts"
	"github.com/edge-readiness/edge-readiness/internal/policy"
)

// cycleCase is a case of a check that compares cycles: earlier mutate the
// good device for the earlier cycles, oldest first, every apart (5 minutes by
// default); the last of them is Prev. now mutates the current cycle.
type cycleCase struct {
	name    string
	earlier []func(*facts.Snapshot)
	every   time.Duration
	now     func(*facts.Snapshot)
	policy  string
	want    []want
}

func cycleInput(tb testing.TB, tc cycleCase) checks.Input {
	tb.Helper()
	every := tc.every
	if every == 0 {
		every = 5 * time.Minute
	}
	n := len(tc.earlier)
	var hist []*facts.Snapshot
	for i, f := range tc.earlier {
		s := goodDevice(tb)
		s.Time = snapTime.Add(-time.Duration(n-i) * every)
		for _, sc := range s.Metrics {
			sc.Time = s.Time
		}
		if f != nil {
			f(s)
		}
		hist = append(hist, s)
	}
	cur := goodDevice(tb)
	if tc.now != nil {
		tc.now(cur)
	}
	in := checks.Input{Snap: cur, History: hist, Self: "edgeReadiness"}
	if n > 0 {
		in.Prev = hist[n-1]
	}
	return in
}

func runCycles(t *testing.T, id string, cases []cycleCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := byID(checks.Run(checks.All(), cycleInput(t, tc), decodePolicy(t, tc.policy)), id)
			if len(got) == 0 {
				t.Fatalf("no %s finding at all", id)
			}
			expectFindings(t, got, tc.want)
		})
	}
}

// counter adds samples of a counter: pairs of labels and values.
func counter(endpoint, name string, series ...any) func(*facts.Snapshot) {
	return func(s *facts.Snapshot) {
		for i := 0; i < len(series); i += 2 {
			l := map[string]string{}
			for k, v := range series[i].(map[string]string) {
				l[k] = v
			}
			addSample(s, endpoint, name, l, series[i+1].(float64))
		}
	}
}

func all(fs ...func(*facts.Snapshot)) func(*facts.Snapshot) {
	return func(s *facts.Snapshot) {
		for _, f := range fs {
			f(s)
		}
	}
}

// Process instances: a new instance_number means the process restarted.
const (
	instA = "7a1c9e2f-0b3d-4e5f-8a6b-1c2d3e4f5a6b"
	instB = "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a"
)

func syncs(inst string, v float64) func(*facts.Snapshot) {
	return counter(facts.EdgeAgent, "edgeAgent_unsuccessful_iothub_syncs_total",
		map[string]string{"iothub": "contoso-hub.azure-devices.net", "edge_device": "edge-01", "instance_number": inst}, v)
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

func dropped(inst, reason string, v float64) func(*facts.Snapshot) {
	return counter(facts.EdgeHub, "edgehub_messages_dropped_total",
		map[string]string{"from": "edge-01/filter", "from_route_output": "out1", "reason": reason, "instance_number": inst}, v)
}

func unack(inst string, v float64) func(*facts.Snapshot) {
	return counter(facts.EdgeHub, "edgehub_messages_unack_total",
		map[string]string{"from": "edge-01/filter", "from_route_output": "out1", "reason": "storage_failure", "instance_number": inst}, v)
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

func TestEdgehubMessageTTL(t *testing.T) {
	before := all(dropped(instA, "no_route", 10), dropped(instA, "ttl_expiry", 100))
	runCycles(t, "edgehub-message-ttl", []cycleCase{
		{name: "first cycle: no baseline", now: before, want: []want{{status: checks.Pass, severity: policy.Warning, msg: "first cycle: no baseline yet"}}},
		{
			name:    "messages expired",
			earlier: []func(*facts.Snapshot){before},
			now:     all(dropped(instA, "no_route", 10), dropped(instA, "ttl_expiry", 115)),
			want:    []want{{status: checks.Fail, severity: policy.Warning, msg: "since the last cycle: 15 messages expired"}},
		},
		{
			name:    "other drops are edgehub-messages-dropped's",
			earlier: []func(*facts.Snapshot){before},
			now:     all(dropped(instA, "no_route", 30), dropped(instA, "ttl_expiry", 100)),
			want:    []want{{status: checks.Pass, msg: "no growth since the last cycle"}},
		},
		{
			name:    "edgeHub restarted: no alarm",
			earlier: []func(*facts.Snapshot){before},
			now:     all(dropped(instB, "no_route", 0), dropped(instB, "ttl_expiry", 0)),
			want:    []want{{status: checks.Pass, msg: "counters reset"}},
		},
		{
			name:    "the development profile reports it as info",
			earlier: []func(*facts.Snapshot){before},
			now:     all(dropped(instA, "no_route", 10), dropped(instA, "ttl_expiry", 115)),
			policy:  `{"profile":"development"}`,
			want:    []want{{status: checks.Fail, severity: policy.Info, msg: "15 messages expired"}},
		},
	})
}

func offline(inst string, v float64) func(*facts.Snapshot) {
	return counter(facts.EdgeHub, "edgehub_offline_count_total",
		map[string]string{"iothub": "contoso-hub.azure-devices.net", "edge_device": "edge-01", "id": "edge-01/$edgeHub", "instance_number": inst}, v)
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

func starts(inst string, perModule map[string]float64) func(*facts.Snapshot) {
	return func(s *facts.Snapshot) {
		for m, v := range perModule {
			addSample(s, facts.EdgeAgent, "edgeAgent_module_start_total", map[string]string{"module_name": m, "instance_number": inst}, v)
		}
	}
}

// TestModulesRunningStarts covers the restart-rate part of modules-running:
// how often edgeAgent started a module across the snapshots of the last hour.
func TestModulesRunningStarts(t *testing.T) {
	m := func(v float64) map[string]float64 { return map[string]float64{"filter": v, "sensor": 1} }
	runCycles(t, "modules-running", []cycleCase{
		{
			name: "first cycle: the container's own restart count decides",
			now:  starts(instA, m(40)),
			want: []want{{module: "filter", status: checks.Pass, severity: policy.Critical, msg: "filter is running (0 restarts)"}},
		},
		{
			name:    "7 starts in 15 minutes is a restart loop",
			earlier: []func(*facts.Snapshot){starts(instA, m(2)), starts(instA, m(5)), starts(instA, m(8))},
			now:     starts(instA, m(9)),
			want: []want{{module: "filter", status: checks.Fail, severity: policy.Critical,
				msg: "filter is restart-looping: edgeAgent started it 7 times in the last 15m0s (more than 3 per hour)"}},
		},
		{
			name:    "3 starts in 15 minutes is not",
			earlier: []func(*facts.Snapshot){starts(instA, m(2)), starts(instA, m(3)), starts(instA, m(4))},
			now:     starts(instA, m(5)),
			want:    []want{{module: "filter", status: checks.Pass, msg: "filter is running"}},
		},
		{
			name:    "edgeAgent restarted: its counters start again, no loop",
			earlier: []func(*facts.Snapshot){starts(instA, m(30)), starts(instA, m(30)), starts(instA, m(30))},
			now:     starts(instB, m(1)),
			want:    []want{{module: "filter", status: checks.Pass, msg: "filter is running"}},
		},
		{
			name:    "edgeAgent restarted and then started filter 5 times",
			earlier: []func(*facts.Snapshot){starts(instA, m(30)), starts(instB, m(1))},
			now:     starts(instB, m(5)),
			want:    []want{{module: "filter", status: checks.Fail, msg: "edgeAgent started it 5 times in the last 10m0s"}},
		},
		{
			name:    "starts older than an hour do not count",
			every:   45 * time.Minute,
			earlier: []func(*facts.Snapshot){starts(instA, m(0)), starts(instA, m(8))},
			now:     starts(instA, m(10)),
			want:    []want{{module: "filter", status: checks.Pass, msg: "filter is running"}},
		},
		{
			name:    "maxRestartsPerHour from policy",
			earlier: []func(*facts.Snapshot){starts(instA, m(2))},
			now:     starts(instA, m(4)),
			policy:  `{"checks":{"modules-running":{"params":{"maxRestartsPerHour":1}}}}`,
			want:    []want{{module: "filter", status: checks.Fail, msg: "started it 2 times in the last 5m0s (more than 1 per hour)"}},
		},
	})

	// The window and the count are in the evidence.
	in := cycleInput(t, cycleCase{earlier: []func(*facts.Snapshot){starts(instA, m(2))}, now: starts(instA, m(3))})
	for _, f := range byID(checks.Run(checks.All(), in, decodePolicy(t, "")), "modules-running") {
		if f.Module == "filter" && (f.Evidence["startsInWindow"] != 1.0 || f.Evidence["window"] != "5m0s") {
			t.Errorf("filter evidence %v, want 1 start in 5m0s", f.Evidence)
		}
	}
}
