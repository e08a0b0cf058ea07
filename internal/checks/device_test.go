package checks_test

import (
	"testing"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/facts"
	"github.com/edge-readiness/edge-readiness/internal/policy"
)

const agentDigest = "mcr.microsoft.com/azureiotedge-agent@sha256:4a1e4bd6e1bbbd1d5e5a87cb1b6d2f6b5ce9d1c6c6c0f8d2e1e3b0a9f8e7d6c5"

func setAgentVersion(s *facts.Snapshot, v string) {
	for i, smp := range s.Metrics[facts.EdgeAgent].Samples {
		if smp.Name == "edgeAgent_metadata" {
			s.Metrics[facts.EdgeAgent].Samples[i].Labels["edge_agent_version"] = v
		}
	}
}

// at sets the snapshot's time.
func at(ts string) func(*facts.Snapshot) {
	return func(s *facts.Snapshot) {
		t, err := time.Parse(time.RFC3339, ts)
		if err != nil {
			panic(err)
		}
		s.Time = t
	}
}

// runtimeOn sets edgeAgent's and edgeHub's images to a release at a time.
func runtimeOn(version, ts string) func(*facts.Snapshot) {
	return func(s *facts.Snapshot) {
		setImage(mod(s, "edgeAgent"), "mcr.microsoft.com/azureiotedge-agent:"+version)
		setImage(mod(s, "edgeHub"), "mcr.microsoft.com/azureiotedge-hub:"+version)
		at(ts)(s)
	}
}

func both(status checks.Status, sev policy.Severity, msg string) []want {
	return []want{{module: "edgeAgent", status: status, severity: sev, msg: msg}, {module: "edgeHub", status: status, severity: sev, msg: msg}}
}

func TestRuntimeVersionSupported(t *testing.T) {
	runCases(t, "runtime-version-supported", []checkCase{
		{
			name: "1.5.21 in 2025 passes",
			want: []want{
				{module: "edgeAgent", status: checks.Pass, msg: "edgeAgent runs IoT Edge 1.5 (image contoso.azurecr.io/azureiotedge-agent:1.5.21), a supported release (serviced through 2026-11-10)"},
				{module: "edgeHub", status: checks.Pass, msg: "edgeHub runs IoT Edge 1.5"},
			},
		},
		{
			name:   "1.6.8 today passes",
			mutate: runtimeOn("1.6.8", "2026-12-07T15:00:00Z"),
			want:   both(checks.Pass, "", "1.6.8), a supported release (serviced through 2028-11-14)"),
		},
		{
			name:   "1.5.21 today fails critically, naming its end and 1.6",
			mutate: runtimeOn("1.5.21", "2026-12-07T15:00:00Z"),
			want: both(checks.Fail, policy.Critical, "1.5.21), whose servicing ended on 2026-11-10: "+
				"move to 1.6, the newest release in the lifecycle table (serviced through 2028-11-14)"),
		},
		{
			name:   "1.5.21 on 2026-03-01 passes (254 days left)",
			mutate: runtimeOn("1.5.21", "2026-03-01T00:00:00Z"),
			want:   both(checks.Pass, "", "a supported release (serviced through 2026-11-10)"),
		},
		{
			name:   "1.6.8 on 2028-09-01 warns",
			mutate: runtimeOn("1.6.8", "2028-09-01T00:00:00Z"),
			want: both(checks.Fail, policy.Warning, "serviced only through 2028-11-14 (75 days from now, within warningDays 180): "+
				"plan the move to a newer release: the lifecycle table knows none yet, add it to lifecycle"),
		},
		{
			name:   "1.6.8 on 2028-12-01 fails critically",
			mutate: runtimeOn("1.6.8", "2028-12-01T00:00:00Z"),
			want:   both(checks.Fail, policy.Critical, "whose servicing ended on 2028-11-14: move to a newer release"),
		},
		{
			name:   "1.4.27 today fails critically",
			mutate: runtimeOn("1.4.27", "2026-12-07T15:00:00Z"),
			want:   both(checks.Fail, policy.Critical, "1.4.27), whose servicing ended on 2024-11-12: move to 1.6"),
		},
		{
			name:   "edgeHub rolling 1.4 fails",
			mutate: func(s *facts.Snapshot) { setImage(mod(s, "edgeHub"), "mcr.microsoft.com/azureiotedge-hub:1.4") },
			want:   []want{{module: "edgeHub", status: checks.Fail, msg: "2024-11-12"}},
		},
		{
			name:   "1.1 fails",
			mutate: func(s *facts.Snapshot) { setImage(mod(s, "edgeAgent"), "mcr.microsoft.com/azureiotedge-agent:1.1.18") },
			want:   []want{{module: "edgeAgent", status: checks.Fail, msg: "runs IoT Edge 1.1 (image mcr.microsoft.com/azureiotedge-agent:1.1.18), whose servicing ended on 2022-12-13"}},
		},
		{
			name:   "1.2, not in the table and older than the ended 1.4, fails",
			mutate: func(s *facts.Snapshot) { setImage(mod(s, "edgeAgent"), "mcr.microsoft.com/azureiotedge-agent:1.2.10") },
			want: []want{{module: "edgeAgent", status: checks.Fail, severity: policy.Critical,
				msg: "runs IoT Edge 1.2 (image mcr.microsoft.com/azureiotedge-agent:1.2.10), which is not in the lifecycle table and is older than 1.4, whose servicing ended on 2024-11-12"}},
		},
		{
			name:   "1.7, newer than every entry, passes and asks for its date",
			mutate: runtimeOn("1.7.0", "2026-12-07T15:00:00Z"),
			want: both(checks.Pass, "", "1.7.0), newer than every release in the lifecycle table "+
				"(newest: 1.6, serviced through 2028-11-14); add its end of servicing to lifecycle"),
		},
		{
			name:   "a lifecycle entry added by policy names the next release",
			mutate: runtimeOn("1.6.8", "2028-12-01T00:00:00Z"),
			policy: `{"checks":{"runtime-version-supported":{"params":{"lifecycle":["1.7=2030-11-12"]}}}}`,
			want:   both(checks.Fail, policy.Critical, "whose servicing ended on 2028-11-14: move to 1.7, the newest release in the lifecycle table (serviced through 2030-11-12)"),
		},
		{
			name:   "a policy extends 1.5's date",
			mutate: runtimeOn("1.5.21", "2026-12-07T15:00:00Z"),
			policy: `{"checks":{"runtime-version-supported":{"params":{"lifecycle":["1.5=2027-12-31"],"warningDays":0}}}}`,
			want:   both(checks.Pass, "", "serviced through 2027-12-31"),
		},
		{
			name:   "warningDays 30 lets 1.6.8 on 2028-09-01 pass",
			mutate: runtimeOn("1.6.8", "2028-09-01T00:00:00Z"),
			policy: `{"checks":{"runtime-version-supported":{"params":{"warningDays":30}}}}`,
			want:   both(checks.Pass, "", "serviced through 2028-11-14"),
		},
		{
			name: "without the original-image label the container's image is read",
			mutate: func(s *facts.Snapshot) {
				c := mod(s, "edgeHub")
				delete(c.Labels, facts.OriginalImageLabel)
				c.Image = "mcr.microsoft.com/azureiotedge-hub:1.4.27-linux-arm32v7"
			},
			want: []want{{module: "edgeHub", status: checks.Fail, msg: "IoT Edge 1.4 (image mcr.microsoft.com/azureiotedge-hub:1.4.27-linux-arm32v7)"}},
		},
		{
			name:   "digest-only edgeAgent falls back to edgeAgent_metadata",
			mutate: func(s *facts.Snapshot) { setImage(mod(s, "edgeAgent"), agentDigest) },
			want: []want{{module: "edgeAgent", status: checks.Pass,
				msg: "edgeAgent runs IoT Edge 1.5 (edgeAgent_metadata version 1.5.21.94152683"}},
		},
		{
			name: "digest-only edgeAgent with 1.4 metadata fails",
			mutate: func(s *facts.Snapshot) {
				setImage(mod(s, "edgeAgent"), agentDigest)
				setAgentVersion(s, "1.4.27.82633486 (d1a0f4b1d3b4f0a5e0b58b2e8b0cdd2c5f7e7f44)")
			},
			want: []want{{module: "edgeAgent", status: checks.Fail, msg: "edgeAgent_metadata version 1.4.27.82633486"}},
		},
		{
			name: "digest-only edgeAgent without metrics cannot be told",
			mutate: func(s *facts.Snapshot) {
				setImage(mod(s, "edgeAgent"), agentDigest)
				delete(s.Metrics, facts.EdgeAgent)
			},
			want: []want{{module: "edgeAgent", status: checks.Skip, msg: "cannot tell the release of edgeAgent from image " + agentDigest}},
		},
		{
			name:   "supportedReleases still judges a listed release by its end of servicing",
			mutate: runtimeOn("1.4.27", "2026-12-07T15:00:00Z"),
			policy: `{"checks":{"runtime-version-supported":{"params":{"supportedReleases":["1.4","1.6"]}}}}`,
			want:   both(checks.Fail, policy.Critical, "whose servicing ended on 2024-11-12"),
		},
		{
			name:   "supportedReleases without 1.5 fails a serviced 1.5",
			policy: `{"checks":{"runtime-version-supported":{"params":{"supportedReleases":["1.6"]}}}}`,
			want:   both(checks.Fail, policy.Critical, "which supportedReleases does not list (supported: 1.6)"),
		},
		{
			name:   "supportedReleases admits a release the table does not know",
			mutate: runtimeOn("1.7.1", "2026-12-07T15:00:00Z"),
			policy: `{"checks":{"runtime-version-supported":{"params":{"supportedReleases":["1.7"]}}}}`,
			want:   both(checks.Pass, "", "a release supportedReleases lists; its end of servicing is not in the lifecycle table"),
		},
		{
			name:   "a snapshot without a time cannot be judged",
			mutate: func(s *facts.Snapshot) { s.Time = time.Time{} },
			want:   []want{{status: checks.Skip, msg: "the snapshot has no time to judge the end of servicing against"}},
		},
		{
			name:   "no edgeHub container skips edgeHub",
			mutate: func(s *facts.Snapshot) { removeContainer(s, "edgeHub") },
			want:   []want{{module: "edgeHub", status: checks.Skip, msg: "no edgeHub container (see modules-running)"}},
		},
	})
}

// TestRuntimeLifecycleBoundaries judges every release of the default table
// a minute before and after each of its boundaries: the start of warningDays
// and the end of its last day of servicing (UTC).
func TestRuntimeLifecycleBoundaries(t *testing.T) {
	ends := map[string]string{"1.1": "2022-12-13", "1.4": "2024-11-12", "1.5": "2026-11-10", "1.6": "2028-11-14"}
	for rel, end := range ends {
		last, err := time.Parse(time.DateOnly, end)
		if err != nil {
			t.Fatal(err)
		}
		over := last.Add(24 * time.Hour) // servicing covers the whole last day
		warnFrom := over.Add(-180 * 24 * time.Hour)
		for _, tc := range []struct {
			at     time.Time
			status checks.Status
			sev    policy.Severity
			msg    string
		}{
			{warnFrom.Add(-time.Minute), checks.Pass, policy.Critical, "a supported release (serviced through " + end + ")"},
			{warnFrom.Add(time.Minute), checks.Fail, policy.Warning, "serviced only through " + end + " (180 days from now"},
			{over.Add(-time.Minute), checks.Fail, policy.Warning, "serviced only through " + end + " (1 day from now"},
			{over.Add(time.Minute), checks.Fail, policy.Critical, "whose servicing ended on " + end},
		} {
			t.Run(rel+" at "+tc.at.Format(time.RFC3339), func(t *testing.T) {
				s := goodDevice(t)
				runtimeOn(rel+".3", tc.at.Format(time.RFC3339))(s)
				got := byID(runAll(s, decodePolicy(t, "")), "runtime-version-supported")
				expectFindings(t, got, both(tc.status, tc.sev, tc.msg))
			})
		}
	}
}

func TestContainerEngineMoby(t *testing.T) {
	runCases(t, "container-engine-moby", []checkCase{
		{
			name: "Moby +azure passes",
			want: []want{{status: checks.Pass, msg: "the engine is Moby 20.10.11+azure-3"}},
		},
		{
			name: "Docker CE fails",
			mutate: func(s *facts.Snapshot) {
				s.Engine.ServerVersion = "24.0.7"
				s.Engine.PlatformName = "Docker Engine - Community"
				s.Engine.Components = []string{"Engine 24.0.7", "containerd 1.6.25", "runc 1.1.10", "docker-init 0.19.0"}
			},
			want: []want{{status: checks.Fail, msg: "the engine is Docker Engine - Community 24.0.7, not Microsoft's Moby"}},
		},
		{
			name: "Debian docker.io fails",
			mutate: func(s *facts.Snapshot) {
				s.Engine.ServerVersion = "20.10.24+dfsg1"
				s.Engine.Components = []string{"Engine 20.10.24+dfsg1", "containerd 1.6.20~ds1", "runc 1.1.5+ds1"}
				s.Engine.OperatingSystem = "Debian GNU/Linux 12 (bookworm)"
			},
			want: []want{{status: checks.Fail, msg: "20.10.24+dfsg1, not Microsoft's Moby"}},
		},
		{
			name: "Docker snap on Ubuntu Core passes",
			mutate: func(s *facts.Snapshot) {
				s.Engine.ServerVersion = "24.0.5"
				s.Engine.Components = []string{"Engine 24.0.5", "containerd 1.6.24", "runc 1.1.9"}
				s.Engine.OperatingSystem = "Ubuntu Core 22"
				s.Engine.DockerRootDir = "/var/snap/docker/common/var-lib-docker"
			},
			want: []want{{status: checks.Pass, msg: "the Docker snap on Ubuntu Core (24.0.5)"}},
		},
		{
			name: "Ubuntu Core is recognized by its name alone",
			mutate: func(s *facts.Snapshot) {
				s.Engine.ServerVersion = "24.0.5"
				s.Engine.Components = nil
				s.Engine.OperatingSystem = "Ubuntu Core 22"
				s.Engine.DockerRootDir = ""
			},
			want: []want{{status: checks.Pass, msg: "the Docker snap on Ubuntu Core"}},
		},
		{
			name: "engine unreachable is an error saying why",
			mutate: func(s *facts.Snapshot) {
				s.Engine = nil
				s.DockerError = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock"
			},
			want: []want{{status: checks.Error, msg: "cannot decide without the Docker engine: Cannot connect to the Docker daemon at unix:///var/run/docker.sock"}},
		},
	})
}
