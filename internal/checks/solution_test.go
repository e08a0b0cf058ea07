package checks_test

import (
	"testing"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/facts"
	"github.com/edge-readiness/edge-readiness/internal/policy"
)

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

func TestObservabilityModule(t *testing.T) {
	runCases(t, "observability-module", []checkCase{
		{
			name: "good device: the metrics collector",
			want: []want{{status: checks.Pass, severity: policy.Info,
				msg: "metricsCollector ships logs or metrics (contoso.azurecr.io/azureiotedge-metrics-collector:2.0.0)"}},
		},
		{
			name:   "none deployed fails (as info)",
			mutate: func(s *facts.Snapshot) { removeContainer(s, "metricsCollector") },
			want: []want{{status: checks.Fail, severity: policy.Info,
				msg: "no module ships logs or metrics off the device (looked for images matching metrics-collector)"}},
		},
		{
			name: "Microsoft's image from mcr.microsoft.com",
			mutate: func(s *facts.Snapshot) {
				setImage(mod(s, "metricsCollector"), "mcr.microsoft.com/azureiotedge-metrics-collector:1.1")
			},
			want: []want{{status: checks.Pass, msg: "(mcr.microsoft.com/azureiotedge-metrics-collector:1.1)"}},
		},
		{
			name: "a shipper listed in observabilityImages, matched in any case",
			mutate: func(s *facts.Snapshot) {
				setImage(mod(s, "metricsCollector"), "contoso.azurecr.io/Fluent-Bit:3.0.4")
				mod(s, "metricsCollector").Labels[facts.OriginalImageLabel] = "contoso.azurecr.io/fluent-bit:3.0.4"
			},
			policy: `{"checks":{"observability-module":{"params":{"observabilityImages":["metrics-collector","FLUENT-BIT"]}}}}`,
			want:   []want{{status: checks.Pass, msg: "metricsCollector ships logs or metrics (contoso.azurecr.io/fluent-bit:3.0.4)"}},
		},
		{
			name: "a container not owned by IoT Edge does not count",
			mutate: func(s *facts.Snapshot) {
				c := *mod(s, "metricsCollector")
				c.Labels = map[string]string{facts.OriginalImageLabel: c.OriginalImage()}
				removeContainer(s, "metricsCollector")
				s.Containers = append(s.Containers, c)
			},
			want: []want{{status: checks.Fail, msg: "no module ships logs or metrics"}},
		},
	})
}
