package checks_test

import (
	"testing"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/facts"
)

func TestImageTagsPinned(t *testing.T) {
	img := func(module, ref string) func(*facts.Snapshot) {
		return func(s *facts.Snapshot) { setImage(mod(s, module), ref) }
	}
	runCases(t, "image-tags-pinned", []checkCase{
		{
			name: "full versions pass",
			want: []want{
				{module: "edgeAgent", status: checks.Pass, msg: "edgeAgent's image is tagged 1.5.21"},
				{module: "edgeHub", status: checks.Pass, msg: "edgeHub's image is tagged 1.5.21"},
				{module: "filter", status: checks.Pass, msg: "filter's image is tagged 2.3.1"},
				{module: "sensor", status: checks.Pass, msg: "sensor's image is tagged 1.2.3"},
			},
		},
		{
			name:   "edgeAgent on the rolling tag 1.5 fails",
			mutate: img("edgeAgent", "mcr.microsoft.com/azureiotedge-agent:1.5"),
			want: []want{{module: "edgeAgent", status: checks.Fail,
				msg: `edgeAgent uses the rolling tag "1.5" (mcr.microsoft.com/azureiotedge-agent:1.5)`}},
		},
		{
			name:   "edgeHub on the rolling tag 1.5 fails",
			mutate: img("edgeHub", "mcr.microsoft.com/azureiotedge-hub:1.5"),
			want:   []want{{module: "edgeHub", status: checks.Fail, msg: `rolling tag "1.5"`}},
		},
		{
			name:   "edgeHub untagged is latest and fails",
			mutate: img("edgeHub", "mcr.microsoft.com/azureiotedge-hub"),
			want:   []want{{module: "edgeHub", status: checks.Fail, msg: `rolling tag "latest"`}},
		},
		{
			name:   "edgeAgent by digest passes",
			mutate: img("edgeAgent", agentDigest),
			want:   []want{{module: "edgeAgent", status: checks.Pass, msg: "edgeAgent's image is pinned by digest"}},
		},
		{
			name:   "custom latest fails",
			mutate: img("filter", "contoso.azurecr.io/filter:latest"),
			want: []want{{module: "filter", status: checks.Fail,
				msg: "filter's image contoso.azurecr.io/filter:latest has no version tag"}},
		},
		{
			name:   "custom untagged fails",
			mutate: img("sensor", "contoso.azurecr.io/sensor"),
			want:   []want{{module: "sensor", status: checks.Fail, msg: "sensor's image contoso.azurecr.io/sensor has no version tag"}},
		},
		{
			name:   "custom by tag and digest passes",
			mutate: img("sensor", "contoso.azurecr.io/sensor:latest@sha256:4a1e4bd6e1bbbd1d5e5a87cb1b6d2f6b5ce9d1c6c6c0f8d2e1e3b0a9f8e7d6c5"),
			want:   []want{{module: "sensor", status: checks.Pass, msg: "pinned by digest"}},
		},
		{
			name: "the deployment's image counts, not the container's",
			mutate: func(s *facts.Snapshot) {
				mod(s, "filter").Labels[facts.OriginalImageLabel] = "contoso.azurecr.io/filter:latest"
			},
			want: []want{{module: "filter", status: checks.Fail, msg: "contoso.azurecr.io/filter:latest has no version tag"}},
		},
		{
			name:   "an invalid reference fails",
			mutate: img("filter", "contoso.azurecr.io/Filter:2.3.1"),
			want:   []want{{module: "filter", status: checks.Fail, msg: `filter's image "contoso.azurecr.io/Filter:2.3.1" is not a valid reference`}},
		},
	})
}

func TestUnusedVolumes(t *testing.T) {
	addVolume := func(name string, size int64) func(*facts.Snapshot) {
		return func(s *facts.Snapshot) {
			s.Volumes = append(s.Volumes, facts.Volume{Name: name, Driver: "local", Size: size, RefCount: 0})
		}
	}
	runCases(t, "unused-volumes", []checkCase{
		{
			name: "no unused volume passes",
			want: []want{{status: checks.Pass, msg: "0 of 2 volumes unused (at most 0 allowed)"}},
		},
		{
			name:   "one unused volume fails, named with its size",
			mutate: addVolume("old-cache", 3*gib/2),
			want:   []want{{status: checks.Fail, msg: "(1.5 GiB reclaimable): old-cache"}},
		},
		{
			name:   "maxDangling=1 tolerates one",
			mutate: addVolume("old-cache", 3*gib/2),
			policy: `{"checks":{"unused-volumes":{"params":{"maxDangling":1}}}}`,
			want:   []want{{status: checks.Pass, msg: "1 of 3 volumes unused (at most 1 allowed)"}},
		},
		{
			name: "maxDangling=1 with two fails, sorted by name",
			mutate: func(s *facts.Snapshot) {
				addVolume("zz-tmp", 512*mib)(s)
				addVolume("aa-cache", 512*mib)(s)
			},
			policy: `{"checks":{"unused-volumes":{"params":{"maxDangling":1}}}}`,
			want:   []want{{status: checks.Fail, msg: "(1.0 GiB reclaimable): aa-cache, zz-tmp"}},
		},
		{
			name: "a volume a non-module container mounts is used",
			mutate: func(s *facts.Snapshot) {
				addVolume("portainer_data", 20*mib)(s)
				s.Containers = append(s.Containers, facts.Container{ID: "e5", Name: "portainer",
					Image: "portainer/portainer-ce:2.19.4", State: facts.State{Status: "exited"},
					Mounts: []facts.Mount{{Type: "volume", Name: "portainer_data", Destination: "/data", RW: true}}})
			},
			want: []want{{status: checks.Pass, msg: "0 of 3 volumes unused"}},
		},
		{
			name: "a bind mount does not use a volume of the same name",
			mutate: func(s *facts.Snapshot) {
				addVolume("sensor-data", 0)(s)
				c := mod(s, "sensor")
				c.Mounts = append(c.Mounts, facts.Mount{Type: "bind", Name: "", Source: "/srv/sensor-data", Destination: "/data"})
			},
			want: []want{{status: checks.Fail, msg: "sensor-data"}},
		},
		{
			name:   "an unused volume of unknown size does not claim 0 B",
			mutate: addVolume("old-cache", -1),
			want:   []want{{status: checks.Fail, msg: "(size unknown): old-cache"}},
		},
		{
			name: "unknown sizes make the reclaimable size a lower bound",
			mutate: func(s *facts.Snapshot) {
				addVolume("old-cache", -1)(s)
				addVolume("old-logs", 3*gib/2)(s)
			},
			want: []want{{status: checks.Fail, msg: "(at least 1.5 GiB reclaimable): old-cache, old-logs"}},
		},
	})
}

func TestContainerEngineLogrotate(t *testing.T) {
	logs := func(module, driver string, opts map[string]string) func(*facts.Snapshot) {
		return func(s *facts.Snapshot) { mod(s, module).LogConfig = facts.LogConfig{Type: driver, Config: opts} }
	}
	runCases(t, "container-engine-logrotate", []checkCase{
		{
			name: "json-file with max-size and max-file passes",
			want: []want{
				{module: "edgeAgent", status: checks.Pass, msg: "edgeAgent logs with json-file, max-size 10m, max-file 3"},
				{module: "edgeHub", status: checks.Pass, msg: "edgeHub logs with json-file"},
				{module: "filter", status: checks.Pass, msg: "filter logs with json-file"},
				{module: "sensor", status: checks.Pass, msg: "sensor logs with json-file"},
			},
		},
		{
			name:   "json-file without max-file fails",
			mutate: logs("filter", "json-file", map[string]string{"max-size": "10m"}),
			want:   []want{{module: "filter", status: checks.Fail, msg: "filter logs with json-file without max-file: its log grows until the disk is full"}},
		},
		{
			name:   "json-file without options fails naming both",
			mutate: logs("edgeHub", "json-file", map[string]string{}),
			want:   []want{{module: "edgeHub", status: checks.Fail, msg: "without max-size and max-file"}},
		},
		{
			name: "an empty type falls back to the engine's driver (json-file)",
			mutate: func(s *facts.Snapshot) {
				logs("sensor", "", nil)(s)
				s.Engine.LoggingDriver = "json-file"
			},
			want: []want{{module: "sensor", status: checks.Fail, msg: "sensor logs with json-file (the engine's default driver) without max-size and max-file"}},
		},
		{
			name: "an empty type falls back to the engine's driver (local)",
			mutate: func(s *facts.Snapshot) {
				logs("sensor", "", nil)(s)
				s.Engine.LoggingDriver = "local"
			},
			want: []want{{module: "sensor", status: checks.Pass, msg: "sensor logs with local"}},
		},
		{
			name:   "local passes",
			mutate: logs("filter", "local", nil),
			want:   []want{{module: "filter", status: checks.Pass, msg: "filter logs with local"}},
		},
		{
			name:   "journald passes",
			mutate: logs("filter", "journald", map[string]string{"tag": "{{.Name}}"}),
			want:   []want{{module: "filter", status: checks.Pass, msg: "filter logs with journald"}},
		},
		{
			name:   "syslog fails",
			mutate: logs("filter", "syslog", map[string]string{"syslog-address": "udp://10.0.0.5:514"}),
			want: []want{{module: "filter", status: checks.Fail,
				msg: `filter logs with driver "syslog", which is not in allowedLogDrivers (json-file, local, journald)`}},
		},
		{
			name:   "syslog passes when allowed",
			mutate: logs("filter", "syslog", map[string]string{"syslog-address": "udp://10.0.0.5:514"}),
			policy: `{"checks":{"container-engine-logrotate":{"params":{"allowedLogDrivers":["json-file","local","journald","syslog"]}}}}`,
			want:   []want{{module: "filter", status: checks.Pass, msg: "filter logs with syslog"}},
		},
	})
}

func TestModuleResourceLimits(t *testing.T) {
	runCases(t, "module-resource-limits", []checkCase{
		{
			name: "memory and CPU set pass (NanoCpus or CpuQuota)",
			want: []want{
				{module: "edgeAgent", status: checks.Pass, msg: "edgeAgent is limited to 256.0 MiB of memory and 0.50 CPUs"},
				{module: "edgeHub", status: checks.Pass, msg: "edgeHub is limited to 512.0 MiB of memory and 1.00 CPUs"},
				{module: "filter", status: checks.Pass, msg: "filter is limited to 128.0 MiB of memory and 0.25 CPUs"},
				{module: "sensor", status: checks.Pass, msg: "sensor is limited to 64.0 MiB of memory and 0.50 CPUs"},
			},
		},
		{
			name:   "CpuQuota without CpuPeriod uses the default period",
			mutate: func(s *facts.Snapshot) { mod(s, "sensor").CPUPeriod = 0 },
			want:   []want{{module: "sensor", status: checks.Pass, msg: "and 0.50 CPUs"}},
		},
		{
			name:   "no memory limit fails",
			mutate: func(s *facts.Snapshot) { mod(s, "filter").Memory = 0 },
			want: []want{{module: "filter", status: checks.Fail,
				msg: "filter has no memory limit: one runaway module can starve the runtime"}},
		},
		{
			name:   "no CPU limit fails",
			mutate: func(s *facts.Snapshot) { mod(s, "sensor").CPUQuota = 0 },
			want:   []want{{module: "sensor", status: checks.Fail, msg: "sensor has no CPU limit"}},
		},
		{
			name: "neither fails naming both",
			mutate: func(s *facts.Snapshot) {
				c := mod(s, "edgeHub")
				c.Memory, c.NanoCPUs = 0, 0
			},
			want: []want{{module: "edgeHub", status: checks.Fail, msg: "edgeHub has no memory and no CPU limit"}},
		},
	})
}
