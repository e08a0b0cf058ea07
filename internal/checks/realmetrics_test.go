package checks_test

import (
	"encoding/json"
	"math"
	"os"
	"testing"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/facts"
)

// Real metrics pages from testdata/real at the repository root (provenance
// in testdata/SOURCES.md).
const (
	datadogEdgeAgent = "datadog-azure_iot_edge-edge_agent.txt"           // edgeAgent 1.0.10-rc2, no disk values
	datadogEdgeHub   = "datadog-azure_iot_edge-edge_hub.txt"             // edgeHub 1.0.10-rc2
	issue6767A       = "issue6767-edgeagent-1.4-metrics-fragment-A.prom" // edgeAgent 1.4, fragments
	issue6767B       = "issue6767-edgeagent-1.4-metrics-fragment-B.prom" // with NaN quantiles
	tervojuEdgeHub   = "tervoju-aalto_floats-edgehub-1.2-metrics-excerpt.prom"
)

// realScrape parses a real metrics page into a Scrape.
func realScrape(t *testing.T, file, endpoint string) *facts.Scrape {
	t.Helper()
	f, err := os.Open(realFixture(file))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	samples, err := facts.ParseMetrics(f)
	if err != nil {
		t.Fatalf("parsing %s: %v", file, err)
	}
	if len(samples) == 0 {
		t.Fatalf("%s parsed to no samples", file)
	}
	return &facts.Scrape{Endpoint: endpoint, Samples: samples, Time: snapTime}
}

// mustMarshal proves findings can be reported (no NaN or Inf in evidence).
func mustMarshal(t *testing.T, fs []checks.Finding) {
	t.Helper()
	if _, err := json.Marshal(fs); err != nil {
		t.Errorf("findings cannot be marshalled: %v", err)
	}
}

// noErrors fails on any error finding: real metrics must not break a check.
func noErrors(t *testing.T, fs []checks.Finding) {
	t.Helper()
	for _, f := range fs {
		if f.Status == checks.Error {
			t.Errorf("%s %s: error %q", f.ID, f.Module, f.Message)
		}
	}
}

func TestRealEdgeAgentMetricsDatadog(t *testing.T) {
	s := goodDevice(t)
	s.Metrics[facts.EdgeAgent] = realScrape(t, datadogEdgeAgent, "http://edgeAgent:9600/metrics")
	setImage(mod(s, "edgeAgent"), agentDigest)
	fs := runAll(s, decodePolicy(t, ""))
	noErrors(t, fs)
	mustMarshal(t, fs)

	t.Run("disk-space skips: the page has no disk values", func(t *testing.T) {
		expectFindings(t, byID(fs, "disk-space"), []want{{status: checks.Skip, msg: "edgeAgent reports no disk metrics yet"}})
	})
	t.Run("modules-running learns the expected modules", func(t *testing.T) {
		// The page expects SimulatedTemperatureSensor, edgeHub and edgeAgent; the device has
		// no SimulatedTemperatureSensor container, and runs filter and sensor besides.
		expectFindings(t, byID(fs, "modules-running"), []want{
			{module: "SimulatedTemperatureSensor", status: checks.Fail, msg: "edgeAgent expects module SimulatedTemperatureSensor but it has no container"},
		})
	})
	t.Run("runtime-version-supported falls back to the metadata version", func(t *testing.T) {
		expectFindings(t, byID(fs, "runtime-version-supported"), []want{
			{module: "edgeAgent", status: checks.Fail,
				msg: "edgeAgent runs IoT Edge 1.0 (edgeAgent_metadata version 1.0.10-rc2.34217022 (029016ef1bf82dec749161d95c6b73aa5ee9baf1)), which is not in the lifecycle table and is older than 1.1, whose servicing ended on 2022-12-13: move to 1.6"},
		})
	})
	t.Run("metrics-endpoints counts the samples", func(t *testing.T) {
		n := len(s.Metrics[facts.EdgeAgent].Samples)
		if n < 50 {
			t.Fatalf("only %d samples parsed from %s", n, datadogEdgeAgent)
		}
		f := only(t, byModule(byID(fs, "metrics-endpoints"), "edgeAgent"))
		if f.Status != checks.Pass || f.Evidence["samples"] != n {
			t.Errorf("edgeAgent endpoint: %s, samples %v, want pass with %d", f.Status, f.Evidence["samples"], n)
		}
	})

	t.Run("with the module present, modules-running passes", func(t *testing.T) {
		s2 := goodDevice(t)
		s2.Metrics[facts.EdgeAgent] = realScrape(t, datadogEdgeAgent, "http://edgeAgent:9600/metrics")
		c := *mod(s2, "sensor")
		c.Name = "SimulatedTemperatureSensor"
		s2.Containers = append(s2.Containers, c)
		for _, f := range byID(runAll(s2, decodePolicy(t, "")), "modules-running") {
			if f.Status != checks.Pass {
				t.Errorf("%s: %s %q", f.Module, f.Status, f.Message)
			}
		}
	})
}

func byModule(fs []checks.Finding, module string) []checks.Finding {
	var out []checks.Finding
	for _, f := range fs {
		if f.Module == module {
			out = append(out, f)
		}
	}
	return out
}

func TestRealEdgeAgentMetricsIssue6767NaN(t *testing.T) {
	for _, file := range []string{issue6767A, issue6767B} {
		t.Run(file, func(t *testing.T) {
			sc := realScrape(t, file, "http://edgeAgent:9600/metrics")
			nan := 0
			for _, smp := range sc.Samples {
				if math.IsNaN(smp.Value) {
					nan++
				}
			}
			if file == issue6767B && nan == 0 {
				t.Fatalf("%s should keep its NaN quantiles", file)
			}
			s := goodDevice(t)
			s.Metrics[facts.EdgeAgent] = sc
			fs := runAll(s, decodePolicy(t, ""))
			noErrors(t, fs)
			mustMarshal(t, fs)
			// The fragments carry no disk, metadata or expected-module values.
			expectFindings(t, byID(fs, "disk-space"), []want{{status: checks.Skip, msg: "no disk metrics"}})
			for _, id := range []string{"modules-running", "runtime-version-supported"} {
				for _, f := range byID(fs, id) {
					if f.Status != checks.Pass {
						t.Errorf("%s %s: %s %q", id, f.Module, f.Status, f.Message)
					}
				}
			}
		})
	}

	t.Run("NaN disk values next to the real page", func(t *testing.T) {
		s := goodDevice(t)
		sc := realScrape(t, issue6767B, "http://edgeAgent:9600/metrics")
		l := map[string]string{"disk_name": "mmcblk0p2", "disk_filesystem": "ext4"}
		sc.Samples = append(sc.Samples,
			facts.Sample{Name: availDisk, Labels: l, Value: math.NaN()},
			facts.Sample{Name: totalDisk, Labels: l, Value: math.NaN()})
		s.Metrics[facts.EdgeAgent] = sc
		fs := runAll(s, decodePolicy(t, ""))
		mustMarshal(t, fs)
		expectFindings(t, byID(fs, "disk-space"), []want{{subject: "mmcblk0p2", status: checks.Skip, msg: `no usable total size for disk "mmcblk0p2"`}})
	})
}

func TestRealEdgeHubMetrics(t *testing.T) {
	for _, file := range []string{tervojuEdgeHub, datadogEdgeHub} {
		t.Run(file, func(t *testing.T) {
			s := goodDevice(t)
			s.Metrics[facts.EdgeHub] = realScrape(t, file, "http://edgeHub:9600/metrics")
			n := len(s.Metrics[facts.EdgeHub].Samples)
			if q := s.Metrics[facts.EdgeHub].Find("edgehub_queue_length", nil); len(q) == 0 {
				t.Errorf("%s: no edgehub_queue_length parsed", file)
			}
			fs := runAll(s, decodePolicy(t, ""))
			noErrors(t, fs)
			mustMarshal(t, fs)
			f := only(t, byModule(byID(fs, "metrics-endpoints"), "edgeHub"))
			if f.Status != checks.Pass || f.Evidence["samples"] != n {
				t.Errorf("edgeHub endpoint: %s %q, want pass with %d samples", f.Status, f.Message, n)
			}
			// An edgeHub page changes nothing else on the good device.
			for _, f := range fs {
				if f.Status == checks.Fail {
					t.Errorf("%s %s: %s", f.ID, f.Module, f.Message)
				}
			}
		})
	}
}
