package checks_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/facts"
	"github.com/edge-readiness/edge-readiness/internal/policy"
)

// learnHostInformation is edgeAgent_metadata's host_information as Microsoft
// Learn shows it (a DPS device that re-provisions on every start).
const learnHostInformation = "learn-edgeagent-metadata-host-information-1.0.10.json"

// setHostInformation replaces the host_information label of edgeAgent_metadata.
func setHostInformation(s *facts.Snapshot, v string) {
	for i, smp := range s.Metrics[facts.EdgeAgent].Samples {
		if smp.Name == "edgeAgent_metadata" {
			l := map[string]string{}
			for k, x := range smp.Labels {
				l[k] = x
			}
			l["host_information"] = v
			s.Metrics[facts.EdgeAgent].Samples[i].Labels = l
		}
	}
}

func readDocExcerpt(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(repoTestdata("docs-excerpts", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestModuleUnhealthy(t *testing.T) {
	unhealthy := func(name string, streak int, out string) func(*facts.Snapshot) {
		return func(s *facts.Snapshot) {
			mod(s, name).State.Health = &facts.Health{Status: "unhealthy", FailingStreak: streak, LastExitCode: 1, LastOutput: out}
		}
	}
	runCases(t, "module-unhealthy", []checkCase{
		{name: "good device: a healthy module and modules without health checks pass",
			want: []want{{module: "filter", status: checks.Pass, msg: "filter's health check reports healthy"},
				{module: "sensor", status: checks.Pass, msg: "sensor has no health check"}}},
		{name: "an unhealthy module fails as a warning, with its streak and last output",
			mutate: unhealthy("sensor", 3, "HTTP 503 from /health"),
			want: []want{{module: "sensor", status: checks.Fail, severity: policy.Warning,
				msg: `sensor is unhealthy: its health check failed 3 times in a row (last output: "HTTP 503 from /health"); edgeAgent does not restart`}}},
		{name: "an unhealthy edgeHub is critical",
			mutate: unhealthy("edgeHub", 1, ""),
			want:   []want{{module: "edgeHub", status: checks.Fail, severity: policy.Critical, msg: "failed 1 time in a row"}}},
		{name: "the policy's severity caps the system modules too",
			mutate: unhealthy("edgeHub", 2, ""), policy: `{"checks":{"module-unhealthy":{"severity":"warning"}}}`,
			want: []want{{module: "edgeHub", status: checks.Fail, severity: policy.Warning, msg: "edgeHub is unhealthy"}}},
		{name: "a starting module passes",
			mutate: func(s *facts.Snapshot) { mod(s, "filter").State.Health = &facts.Health{Status: "starting"} },
			want:   []want{{module: "filter", status: checks.Pass, msg: "reports starting"}}},
	})
}

func TestRestartGivenUp(t *testing.T) {
	exited := func(name string, ago time.Duration, code int) func(*facts.Snapshot) {
		return func(s *facts.Snapshot) {
			st := &mod(s, name).State
			st.Running, st.Status, st.ExitCode = false, "exited", code
			st.FinishedAt = snapTime.Add(-ago)
		}
	}
	both := func(fs ...func(*facts.Snapshot)) func(*facts.Snapshot) {
		return func(s *facts.Snapshot) {
			for _, f := range fs {
				f(s)
			}
		}
	}
	label := func(name, k, v string) func(*facts.Snapshot) {
		return func(s *facts.Snapshot) { mod(s, name).Labels[k] = v }
	}
	runCases(t, "restart-given-up", []checkCase{
		{name: "good device: every module runs",
			want: []want{{module: "sensor", status: checks.Pass, msg: "sensor is running"}}},
		{name: "exited 10 minutes ago and left alone fails",
			mutate: exited("sensor", 10*time.Minute, 1),
			want: []want{{module: "sensor", status: checks.Fail, severity: policy.Critical,
				msg: "sensor exited (code 1) 10m0s ago and was not started since, longer than edgeAgent's longest back-off of 5m0s"}}},
		{name: "exited within the back-off passes",
			mutate: exited("sensor", 2*time.Minute, 1),
			want:   []want{{module: "sensor", status: checks.Pass, msg: "edgeAgent restarts it after its back-off (at most 5m0s)"}}},
		{name: "edgeAgent's own CoolOffTimeUnitInSeconds and MaxRestartCount shorten the back-off",
			mutate: both(exited("sensor", 2*time.Minute, 1), func(s *facts.Snapshot) {
				setEnv(mod(s, "edgeAgent"), "CoolOffTimeUnitInSeconds", "1")
				setEnv(mod(s, "edgeAgent"), "MaxRestartCount", "3")
			}),
			want: []want{{module: "sensor", status: checks.Fail, msg: "longer than edgeAgent's longest back-off of 4s"}}},
		{name: "a restart count at MaxRestartCount says the limit was reached",
			mutate: both(exited("sensor", time.Hour, 137), func(s *facts.Snapshot) { mod(s, "sensor").State.RestartCount = 20 }),
			want:   []want{{module: "sensor", status: checks.Fail, msg: "its restart count 20 has reached edgeAgent's MaxRestartCount 20"}}},
		{name: "a module the deployment stops passes",
			mutate: both(exited("sensor", time.Hour, 0), label("sensor", "net.azure-devices.edge.desiredStatus", "stopped")),
			want:   []want{{module: "sensor", status: checks.Pass, msg: "stopped as its deployment asks"}}},
		{name: "restartPolicy never passes",
			mutate: both(exited("sensor", time.Hour, 1), label("sensor", "net.azure-devices.edge.restartPolicy", "never")),
			want:   []want{{module: "sensor", status: checks.Pass, msg: "its restartPolicy never does not restart it"}}},
		{name: "restartPolicy on-failure after a clean exit passes",
			mutate: both(exited("sensor", time.Hour, 0), label("sensor", "net.azure-devices.edge.restartPolicy", "on-failure")),
			want:   []want{{module: "sensor", status: checks.Pass, msg: "exited with code 0"}}},
		{name: "restartPolicy on-failure after a failure fails",
			mutate: both(exited("sensor", time.Hour, 2), label("sensor", "net.azure-devices.edge.restartPolicy", "on-failure")),
			want:   []want{{module: "sensor", status: checks.Fail, msg: "sensor exited (code 2) 1h0m0s ago"}}},
		{name: "edgeAgent down: nobody restarts anything, modules-running says so",
			mutate: both(exited("sensor", time.Hour, 1), exited("edgeAgent", time.Hour, 1)),
			want:   []want{{status: checks.Skip, msg: "edgeAgent is not running"}}},
	})
}

func TestRuntimeVersionSkew(t *testing.T) {
	hubImage := func(img string) func(*facts.Snapshot) {
		return func(s *facts.Snapshot) { setImage(mod(s, "edgeHub"), img) }
	}
	runCases(t, "runtime-version-skew", []checkCase{
		{name: "good device: daemon 1.5.19, agent and hub 1.5.21",
			want: []want{{status: checks.Pass, msg: "the IoT Edge daemon 1.5.19, edgeAgent 1.5.21, edgeHub 1.5.21 are of one release"}}},
		{name: "edgeHub of another release fails",
			mutate: hubImage("contoso.azurecr.io/azureiotedge-hub:1.4.27"),
			want: []want{{status: checks.Fail, severity: policy.Warning,
				msg: "edgeAgent is 1.5.21 but edgeHub is 1.4.27 (different releases)"}}},
		{name: "daemon 1.5.35 with agent 1.5.40 (#7555) passes the default patch gap",
			mutate: func(s *facts.Snapshot) {
				setHostInformation(s, `{"Version":"1.5.35"}`)
				setImage(mod(s, "edgeHub"), "contoso.azurecr.io/azureiotedge-hub:1.5.40")
				setSample(s, facts.EdgeAgent, "edgeAgent_metadata", 0)
				removeSamples(s, facts.EdgeAgent, "edgeAgent_metadata")
				addSample(s, facts.EdgeAgent, "edgeAgent_metadata", map[string]string{"edge_agent_version": "1.5.40.123 (abc)", "host_information": `{"Version":"1.5.35"}`}, 0)
			},
			want: []want{{status: checks.Pass, msg: "the IoT Edge daemon 1.5.35, edgeAgent 1.5.40, edgeHub 1.5.40"}}},
		{name: "and fails a patch gap above maxPatchGap",
			mutate: func(s *facts.Snapshot) { setHostInformation(s, `{"Version":"1.5.3"}`) },
			policy: `{"checks":{"runtime-version-skew":{"params":{"maxPatchGap":2}}}}`,
			want:   []want{{status: checks.Fail, msg: "the IoT Edge daemon is 1.5.3 but edgeAgent is 1.5.21 (18 patches apart, more than 2)"}}},
		{name: "a floating tag compares major.minor only",
			mutate: hubImage("mcr.microsoft.com/azureiotedge-hub:1.5"),
			want:   []want{{status: checks.Pass, msg: "edgeHub 1.5 are of one release"}}},
		{name: "a support bundle's daemon version stands in for the metadata",
			mutate: func(s *facts.Snapshot) {
				delete(s.Metrics, facts.EdgeAgent)
				s.Engine.IoTEdgeVersion = "1.4.20"
			},
			want: []want{{status: checks.Fail, msg: "the IoT Edge daemon is 1.4.20 but edgeAgent is 1.5.21"}}},
		{name: "fewer than two versions known skip",
			mutate: func(s *facts.Snapshot) {
				removeSamples(s, facts.EdgeAgent, "edgeAgent_metadata")
				setImage(mod(s, "edgeAgent"), "mcr.microsoft.com/azureiotedge-agent:latest")
				setImage(mod(s, "edgeHub"), "mcr.microsoft.com/azureiotedge-hub:latest")
			},
			want: []want{{status: checks.Skip, msg: "cannot compare versions"}}},
	})
}

// TestRuntimeVersionSkewRealMetadata reads a real edgeAgent 1.0.10-rc2 page:
// the daemon 1.0.10~rc2 and agent 1.0.10-rc2 agree; an edgeHub 1.4 does not.
func TestRuntimeVersionSkewRealMetadata(t *testing.T) {
	for _, tc := range []struct {
		hub    string
		status checks.Status
		msg    string
	}{
		{"mcr.microsoft.com/azureiotedge-hub:1.0.10-rc2", checks.Pass, "the IoT Edge daemon 1.0.10, edgeAgent 1.0.10, edgeHub 1.0.10 are of one release"},
		{"mcr.microsoft.com/azureiotedge-hub:1.4.0", checks.Fail, "edgeAgent is 1.0.10 but edgeHub is 1.4.0"},
	} {
		s := goodDevice(t)
		s.Metrics[facts.EdgeAgent] = realScrape(t, datadogEdgeAgent, "http://edgeAgent:9600/metrics")
		setImage(mod(s, "edgeHub"), tc.hub)
		expectFindings(t, byID(runAll(s, decodePolicy(t, "")), "runtime-version-skew"), []want{{status: tc.status, msg: tc.msg}})
	}
}

// withHistory runs the catalog on s with earlier snapshots (oldest first).
func withHistory(t *testing.T, s *facts.Snapshot, pol string, hist ...*facts.Snapshot) []checks.Finding {
	t.Helper()
	in := checks.Input{Snap: s, Self: "edgeReadiness", History: hist}
	if len(hist) > 0 {
		in.Prev = hist[len(hist)-1]
	}
	return checks.Run(checks.All(), in, decodePolicy(t, pol))
}

// twoCycles is the good device with a real edgeHub 1.0.10-rc2 page now and,
// five minutes earlier, the same page with every message counter at zero.
func twoCycles(t *testing.T) (cur, prev *facts.Snapshot) {
	cur, prev = goodDevice(t), goodDevice(t)
	cur.Metrics[facts.EdgeHub] = realScrape(t, datadogEdgeHub, "http://edgeHub:9600/metrics")
	prev.Metrics[facts.EdgeHub] = realScrape(t, datadogEdgeHub, "http://edgeHub:9600/metrics")
	prev.Time = cur.Time.Add(-5 * time.Minute)
	setSample(prev, facts.EdgeHub, "edgehub_messages_received_total", 0)
	return cur, prev
}

func TestStoreAndForwardCapacity(t *testing.T) {
	t.Run("the real page's rate and size against a roomy disk pass", func(t *testing.T) {
		cur, prev := twoCycles(t)
		fs := byID(withHistory(t, cur, "", prev), "store-and-forward-capacity")
		expectFindings(t, fs, []want{{subject: "sda1", status: checks.Pass, msg: "messages/s of"}})
		// 216 messages of the page's own mean size (90872/216 bytes), in 300 s.
		if got := fs[0].Evidence["meanMessageBytes"]; got != 420.7 {
			t.Errorf("mean message size %v, want 420.7", got)
		}
	})
	t.Run("the same rate against a nearly full disk fails", func(t *testing.T) {
		cur, prev := twoCycles(t)
		setSample(cur, facts.EdgeAgent, "edgeAgent_available_disk_space_bytes", float64(4*mib))
		expectFindings(t, byID(withHistory(t, cur, "", prev), "store-and-forward-capacity"),
			[]want{{subject: "sda1", status: checks.Fail, severity: policy.Warning, msg: "more than 50%"}})
	})
	t.Run("a longer TTL fails where the default passes", func(t *testing.T) {
		cur, prev := twoCycles(t)
		setSample(cur, facts.EdgeAgent, "edgeAgent_available_disk_space_bytes", float64(64*mib))
		expectFindings(t, byID(withHistory(t, cur, "", prev), "store-and-forward-capacity"), []want{{subject: "sda1", status: checks.Pass, msg: "which holds"}})
		expectFindings(t, byID(withHistory(t, cur, `{"checks":{"store-and-forward-capacity":{"params":{"ttlSeconds":604800}}}}`, prev), "store-and-forward-capacity"),
			[]want{{subject: "sda1", status: checks.Fail, msg: "an outage of 168h0m0s (the TTL)"}})
	})
	t.Run("the first cycle skips: a rate needs two", func(t *testing.T) {
		cur, _ := twoCycles(t)
		expectFindings(t, byID(withHistory(t, cur, ""), "store-and-forward-capacity"), []want{{status: checks.Skip, msg: "needs two cycles"}})
	})
	t.Run("no messages received pass", func(t *testing.T) {
		cur, prev := twoCycles(t)
		setSample(prev, facts.EdgeHub, "edgehub_messages_received_total", 216)
		expectFindings(t, byID(withHistory(t, cur, "", prev), "store-and-forward-capacity"),
			[]want{{subject: "sda1", status: checks.Pass, msg: "received no messages"}})
	})
}

func TestModuleMemoryHeadroom(t *testing.T) {
	used := func(name string, v float64) func(*facts.Snapshot) {
		return func(s *facts.Snapshot) {
			for i, smp := range s.Metrics[facts.EdgeAgent].Samples {
				if smp.Name == "edgeAgent_used_memory_bytes" && smp.Labels["module_name"] == name {
					s.Metrics[facts.EdgeAgent].Samples[i].Value = v
				}
			}
		}
	}
	runCases(t, "module-memory-headroom", []checkCase{
		{name: "good device: every limited module well under its limit",
			want: []want{{module: "edgeHub", status: checks.Pass, msg: "edgeHub uses 142.0 MiB of its 512.0 MiB memory limit (28%)"}}},
		{name: "95% of the limit fails",
			mutate: used("filter", 0.95*float64(128*mib)),
			want: []want{{module: "filter", status: checks.Fail, severity: policy.Warning,
				msg: "filter uses 121.6 MiB of its 128.0 MiB memory limit (95%), at or above 90%"}}},
		{name: "85% passes, and fails under a lower maxUsedRatio",
			mutate: used("filter", 0.85*float64(128*mib)), policy: `{"checks":{"module-memory-headroom":{"params":{"maxUsedRatio":0.8}}}}`,
			want: []want{{module: "filter", status: checks.Fail, msg: "at or above 80%"}}},
		{name: "a module without a limit is module-resource-limits' business",
			mutate: func(s *facts.Snapshot) {
				for i := range s.Containers {
					s.Containers[i].Memory = 0
				}
			},
			want: []want{{status: checks.Skip, msg: "no module has a memory limit"}}},
		{name: "no metric for a limited module skips it",
			mutate: func(s *facts.Snapshot) { removeSamples(s, facts.EdgeAgent, "edgeAgent_used_memory_bytes") },
			want: []want{{module: "edgeAgent", status: checks.Skip, msg: "no memory use"}, {module: "edgeHub", status: checks.Skip, msg: "no memory use"},
				{module: "filter", status: checks.Skip, msg: "no memory use"}, {module: "sensor", status: checks.Skip, msg: "no memory use"},
				{module: "metricsCollector", status: checks.Skip, msg: "no memory use"}}},
	})

	// A trend: three cycles of growth, an hour apart.
	trend := func(t *testing.T, step float64) []checks.Finding {
		var hist []*facts.Snapshot
		for i := 3; i >= 1; i-- {
			h := goodDevice(t)
			h.Time = snapTime.Add(-time.Duration(i) * time.Hour)
			used("edgeHub", 300*float64(mib)-float64(i)*step)(h)
			hist = append(hist, h)
		}
		cur := goodDevice(t)
		used("edgeHub", 300*float64(mib))(cur)
		return byModule(byID(withHistory(t, cur, "", hist...), "module-memory-headroom"), "edgeHub")
	}
	t.Run("growth that reaches the limit within 24 hours fails", func(t *testing.T) {
		// 20 MiB an hour, 212 MiB left: 10.6 hours.
		expectFindings(t, trend(t, 20*float64(mib)), []want{{module: "edgeHub", status: checks.Fail,
			msg: "has grown for 3 cycles in a row: at that pace it reaches the limit in 10.6 hours"}})
	})
	t.Run("slow growth passes", func(t *testing.T) {
		expectFindings(t, trend(t, 2*float64(mib)), []want{{module: "edgeHub", status: checks.Pass, msg: "edgeHub uses 300.0 MiB"}})
	})
}

// TestModuleMemoryHeadroomRealPage reads edgeHub's memory use from a real
// edgeAgent 1.0.10-rc2 page (120741888 bytes) against two limits.
func TestModuleMemoryHeadroomRealPage(t *testing.T) {
	for _, tc := range []struct {
		limit  int64
		status checks.Status
		msg    string
	}{
		{120 * mib, checks.Fail, "edgeHub uses 115.1 MiB of its 120.0 MiB memory limit (96%)"},
		{512 * mib, checks.Pass, "edgeHub uses 115.1 MiB of its 512.0 MiB memory limit (22%)"},
	} {
		s := goodDevice(t)
		s.Metrics[facts.EdgeAgent] = realScrape(t, datadogEdgeAgent, "http://edgeAgent:9600/metrics")
		for i := range s.Containers {
			s.Containers[i].Memory = 0
		}
		mod(s, "edgeHub").Memory = tc.limit
		expectFindings(t, byID(runAll(s, decodePolicy(t, "")), "module-memory-headroom"), []want{{module: "edgeHub", status: tc.status, msg: tc.msg}})
	}
}

func TestOfflineBoot(t *testing.T) {
	intermittent := `{"checks":{"offline-boot":{"params":{"intermittentConnectivity":true}}}}`
	learn := func(t *testing.T) func(*facts.Snapshot) {
		v := readDocExcerpt(t, learnHostInformation)
		return func(s *facts.Snapshot) { setHostInformation(s, v) }
	}
	runCases(t, "offline-boot", []checkCase{
		{name: "aziot-edged reports a placeholder: skip saying so",
			want: []want{{status: checks.Skip, msg: `the IoT Edge daemon 1.5.19 fills in the placeholder "ProvisioningType"`}}},
		{name: "DPS re-provisioning on every start, intermittently connected: fails",
			mutate: learn(t), policy: intermittent,
			want: []want{{status: checks.Fail, severity: policy.Warning, msg: "provisioned through DPS (dps.tpm) and re-provisions on every start"}}},
		{name: "the same device, always connected: passes",
			mutate: learn(t),
			want:   []want{{status: checks.Pass, msg: "intermittentConnectivity false"}}},
		{name: "manual provisioning boots offline",
			mutate: func(s *facts.Snapshot) {
				setHostInformation(s, `{"Version":"1.1.16","Provisioning":{"Type":"manual.device_connection_string","DynamicReprovisioning":false,"AlwaysReprovisionOnStartup":false}}`)
			},
			policy: intermittent,
			want:   []want{{status: checks.Pass, msg: "provisioned by manual.device_connection_string"}}},
		{name: "no metadata at all skips",
			mutate: func(s *facts.Snapshot) { removeSamples(s, facts.EdgeAgent, "edgeAgent_metadata") },
			want:   []want{{status: checks.Skip, msg: "edgeAgent reports no edgeAgent_metadata"}}},
	})
	t.Run("a real 1.0.10-rc2 page without Provisioning skips", func(t *testing.T) {
		s := goodDevice(t)
		s.Metrics[facts.EdgeAgent] = realScrape(t, datadogEdgeAgent, "http://edgeAgent:9600/metrics")
		expectFindings(t, byID(runAll(s, decodePolicy(t, intermittent)), "offline-boot"),
			[]want{{status: checks.Skip, msg: "host_information has no Provisioning"}})
	})
}

func TestNestedParentTLS(t *testing.T) {
	parent := func(eps []facts.ParentEndpoint, reg *facts.RegistryAnswer, skipped string) func(*facts.Snapshot) {
		return func(s *facts.Snapshot) {
			s.Parent = &facts.ParentProbe{Host: "10.0.0.4", From: "edgeHub's env", Roots: "trust bundle", Endpoints: eps,
				Registry: reg, RegistrySkipped: skipped}
		}
	}
	ok := []facts.ParentEndpoint{{Port: "8883", CertNames: []string{"10.0.0.4"}}, {Port: "443", CertNames: []string{"10.0.0.4"}}}
	runCases(t, "nested-parent-tls", []checkCase{
		{name: "good device: no parent",
			want: []want{{status: checks.Pass, msg: "the device has no parent"}}},
		{name: "a parent that verifies and a registry proxy that asks for credentials pass",
			mutate: parent(ok, &facts.RegistryAnswer{Status: 401}, ""),
			want: []want{{subject: "10.0.0.4:8883", status: checks.Pass, msg: "verified against the trust bundle"},
				{subject: "10.0.0.4:443", status: checks.Pass, msg: "answers TLS on port 443"},
				{subject: "10.0.0.4 registry", status: checks.Pass, msg: "answers GET /v2/ (401)"}}},
		{name: "an IP address where the certificate holds the FQDN (#5231) fails",
			mutate: parent([]facts.ParentEndpoint{
				{Port: "8883", NameError: "10.0.0.4 is not a name of the parent's certificate", CertNames: []string{"gw.contoso.local"}},
				{Port: "443", NameError: "10.0.0.4 is not a name of the parent's certificate", CertNames: []string{"gw.contoso.local"}}},
				nil, "the TLS session on port 443 did not verify: nothing is sent over it"),
			want: []want{{subject: "10.0.0.4:8883", status: checks.Fail, severity: policy.Critical,
				msg: "does not hold the name 10.0.0.4 (it holds gw.contoso.local)"},
				{subject: "10.0.0.4:443", status: checks.Fail, msg: "does not hold the name 10.0.0.4"},
				{subject: "10.0.0.4 registry", status: checks.Skip, msg: "nothing is sent over it"}}},
		{name: "a chain the trust bundle does not verify fails",
			mutate: parent([]facts.ParentEndpoint{{Port: "8883", VerifyError: "x509: certificate signed by unknown authority", CertNames: []string{"10.0.0.4"}}, ok[1]},
				&facts.RegistryAnswer{Status: 200}, ""),
			want: []want{{subject: "10.0.0.4:8883", status: checks.Fail, msg: "does not verify against the trust bundle: x509: certificate signed by unknown authority"}}},
		{name: "a parent that does not answer fails",
			mutate: parent([]facts.ParentEndpoint{{Port: "8883", Error: "connection refused"}, ok[1]}, &facts.RegistryAnswer{Status: 200}, ""),
			want:   []want{{subject: "10.0.0.4:8883", status: checks.Fail, msg: "does not answer TLS on port 8883: connection refused"}}},
		{name: "a registry proxy answering 502 (#7198) fails",
			mutate: parent(ok, &facts.RegistryAnswer{Status: 502}, ""),
			want:   []want{{subject: "10.0.0.4 registry", status: checks.Fail, msg: "answers GET /v2/ with 502"}}},
		{name: "a snapshot without the probe skips",
			mutate: func(s *facts.Snapshot) { s.Parent = nil },
			want:   []want{{status: checks.Skip, msg: "holds no probe of a parent device"}}},
	})
}

func TestMetricsCollectorIngestion(t *testing.T) {
	collector := func(img string, env map[string]string) func(*facts.Snapshot) {
		return func(s *facts.Snapshot) {
			c := mod(s, "metricsCollector")
			setImage(c, img)
			c.Env = env
		}
	}
	legacy := map[string]string{"UploadTarget": "AzureMonitor", "LogAnalyticsWorkspaceId": "11111111-2222-3333-4444-555555555555",
		"LogAnalyticsSharedKey": "c2VjcmV0LXNoYXJlZC1rZXktdGhhdC1tdXN0LW5ldmVyLWxlYWs=", "ResourceId": "/subscriptions/x"}
	runCases(t, "metrics-collector-ingestion", []checkCase{
		{name: "good device: 2.0 with a data collection endpoint, rule and stream",
			want: []want{{module: "metricsCollector", status: checks.Pass, msg: "uploads through the Logs Ingestion API"}}},
		{name: "a 1.3 image with a shared key fails",
			mutate: collector("mcr.microsoft.com/azureiotedge-metrics-collector:1.3", legacy),
			want: []want{{module: "metricsCollector", status: checks.Fail, severity: policy.Critical,
				msg: "runs metrics-collector 1.3, which uploads through the HTTP Data Collector API, retired on 14 September 2026"}}},
		{name: "a 2.0 image without a stream name fails, naming it",
			mutate: collector("mcr.microsoft.com/azureiotedge-metrics-collector:2.0",
				map[string]string{"DataCollectionEndpoint": "https://x", "DataCollectionRuleId": "dcr-1"}),
			want: []want{{module: "metricsCollector", status: checks.Fail, msg: "without DataCollectionStreamName"}}},
		{name: "an unversioned image configured with a shared key fails",
			mutate: collector("mcr.microsoft.com/azureiotedge-metrics-collector:latest", legacy),
			want:   []want{{module: "metricsCollector", status: checks.Fail, msg: "configured with LogAnalyticsSharedKey and LogAnalyticsWorkspaceId"}}},
		{name: "UploadTarget IoTMessage passes whatever the version",
			mutate: collector("mcr.microsoft.com/azureiotedge-metrics-collector:1.1", map[string]string{"UploadTarget": "IoTMessage"}),
			want:   []want{{module: "metricsCollector", status: checks.Pass, msg: "sends its metrics as IoT messages"}}},
		{name: "a 2.x image with a shared key left over passes, saying so",
			mutate: collector("mcr.microsoft.com/azureiotedge-metrics-collector:2.0.1", map[string]string{"DataCollectionEndpoint": "a",
				"DataCollectionRuleId": "b", "DataCollectionStreamName": "c", "LogAnalyticsSharedKey": "d"}),
			want: []want{{module: "metricsCollector", status: checks.Pass, msg: "LogAnalyticsSharedKey is left over and unused"}}},
		{name: "no metrics-collector: not applicable",
			mutate: func(s *facts.Snapshot) { removeContainer(s, "metricsCollector") },
			want:   []want{{status: checks.Skip, msg: "no metrics-collector module runs"}}},
	})
	t.Run("findings name variables, never their values", func(t *testing.T) {
		s := goodDevice(t)
		collector("mcr.microsoft.com/azureiotedge-metrics-collector:1.3", legacy)(s)
		b, err := json.Marshal(byID(runAll(s, decodePolicy(t, "")), "metrics-collector-ingestion"))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range legacy {
			if k != "UploadTarget" && strings.Contains(string(b), v) {
				t.Errorf("the finding holds the value of %s", k)
			}
		}
		if !strings.Contains(string(b), "LogAnalyticsSharedKey") {
			t.Errorf("the finding does not name LogAnalyticsSharedKey: %s", b)
		}
	})
}

// TestReportedChecksOnBundleAndManifest: the checks that need the engine's
// live state or the metrics skip on a deployment manifest, saying why, and
// metrics-collector-ingestion decides from the manifest's modules.
func TestReportedChecksOnBundleAndManifest(t *testing.T) {
	s := goodDevice(t)
	na := facts.FactState{Status: facts.StatusNotApplicable, Reason: "a manifest has no live state"}
	s.Sources = []facts.SourceRun{{Name: "manifest", Status: facts.StatusOK, Facts: map[facts.Fact]facts.FactState{
		facts.FactEngine: na, facts.FactEngineInventory: na, facts.FactEdgeAgentMetrics: na, facts.FactEdgeHubMetrics: na,
		facts.FactCerts: na, facts.FactProbes: na, facts.FactContainers: {Status: facts.StatusOK}, facts.FactManifest: {Status: facts.StatusOK}}}}
	fs := runAll(s, decodePolicy(t, ""))
	for _, id := range []string{"module-unhealthy", "restart-given-up", "runtime-version-skew", "store-and-forward-capacity",
		"module-memory-headroom", "offline-boot", "nested-parent-tls"} {
		expectFindings(t, byID(fs, id), []want{{status: checks.Skip, msg: na.Reason}})
	}
	expectFindings(t, byID(fs, "metrics-collector-ingestion"), []want{{module: "metricsCollector", status: checks.Pass, msg: "Logs Ingestion API"}})
}
