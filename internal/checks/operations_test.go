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
