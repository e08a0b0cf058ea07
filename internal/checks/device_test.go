package checks_test

import (
	"testing"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/facts"
)

const agentDigest = "mcr.microsoft.com/azureiotedge-agent@sha256:4a1e4bd6e1bbbd1d5e5a87cb1b6d2f6b5ce9d1c6c6c0f8d2e1e3b0a9f8e7d6c5"

func setAgentVersion(s *facts.Snapshot, v string) {
	for i, smp := range s.Metrics[facts.EdgeAgent].Samples {
		if smp.Name == "edgeAgent_metadata" {
			s.Metrics[facts.EdgeAgent].Samples[i].Labels["edge_agent_version"] = v
		}
	}
}

func TestRuntimeVersionSupported(t *testing.T) {
	runCases(t, "runtime-version-supported", []checkCase{
		{
			name: "1.5.21 passes",
			want: []want{
				{module: "edgeAgent", status: checks.Pass, msg: "edgeAgent runs IoT Edge 1.5 (image contoso.azurecr.io/azureiotedge-agent:1.5.21), a supported release"},
				{module: "edgeHub", status: checks.Pass, msg: "edgeHub runs IoT Edge 1.5"},
			},
		},
		{
			name:   "edgeAgent 1.4 fails with its end of support",
			mutate: func(s *facts.Snapshot) { setImage(mod(s, "edgeAgent"), "mcr.microsoft.com/azureiotedge-agent:1.4.27") },
			want: []want{{module: "edgeAgent", status: checks.Fail,
				msg: "edgeAgent runs IoT Edge 1.4 (image mcr.microsoft.com/azureiotedge-agent:1.4.27), which is not a supported release (supported: 1.5); its support ended on 2024-11-12"}},
		},
		{
			name:   "edgeHub rolling 1.4 fails",
			mutate: func(s *facts.Snapshot) { setImage(mod(s, "edgeHub"), "mcr.microsoft.com/azureiotedge-hub:1.4") },
			want:   []want{{module: "edgeHub", status: checks.Fail, msg: "2024-11-12"}},
		},
		{
			name:   "1.1 fails",
			mutate: func(s *facts.Snapshot) { setImage(mod(s, "edgeAgent"), "mcr.microsoft.com/azureiotedge-agent:1.1.18") },
			want:   []want{{module: "edgeAgent", status: checks.Fail, msg: "runs IoT Edge 1.1 "}},
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
			name:   "param supportedReleases admits 1.4",
			mutate: func(s *facts.Snapshot) { setImage(mod(s, "edgeAgent"), "mcr.microsoft.com/azureiotedge-agent:1.4.27") },
			policy: `{"checks":{"runtime-version-supported":{"params":{"supportedReleases":["1.4","1.5"]}}}}`,
			want:   []want{{module: "edgeAgent", status: checks.Pass, msg: "IoT Edge 1.4"}},
		},
		{
			name:   "param supportedReleases without 1.5",
			policy: `{"checks":{"runtime-version-supported":{"params":{"supportedReleases":["1.6"]}}}}`,
			want: []want{
				{module: "edgeAgent", status: checks.Fail, msg: "not a supported release (supported: 1.6)"},
				{module: "edgeHub", status: checks.Fail, msg: "not a supported release (supported: 1.6)"},
			},
		},
		{
			name:   "no edgeHub container skips edgeHub",
			mutate: func(s *facts.Snapshot) { removeContainer(s, "edgeHub") },
			want:   []want{{module: "edgeHub", status: checks.Skip, msg: "no edgeHub container (see modules-running)"}},
		},
	})
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
