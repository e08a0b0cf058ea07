package checks_test

import (
	"strings"
	"testing"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/facts"
	"github.com/edge-readiness/edge-readiness/internal/policy"
)

func TestEdgehubProtocolHeads(t *testing.T) {
	disable := func(heads ...string) func(*facts.Snapshot) {
		return func(s *facts.Snapshot) {
			for _, h := range heads {
				setEnv(mod(s, "edgeHub"), h+"Settings__enabled", "false")
			}
		}
	}
	inUse := func(p ...string) string {
		return `{"checks":{"edgehub-protocol-heads":{"params":{"protocolsInUse":["` + strings.Join(p, `","`) + `"]}}}}`
	}
	runCases(t, "edgehub-protocol-heads", []checkCase{
		{
			name: "good device: every head enabled, only reported",
			want: []want{{module: "edgeHub", status: checks.Pass, severity: policy.Info,
				msg: "edgeHub has the amqp, mqtt, http heads enabled (set protocolsInUse to check them)"}},
		},
		{
			name:   "mqtt enabled but not in use fails (as info)",
			policy: inUse("amqp", "http"),
			want: []want{{module: "edgeHub", status: checks.Fail, severity: policy.Info,
				msg: "edgeHub has the mqtt head(s) enabled, which protocolsInUse does not list"}},
		},
		{
			name:   "unused heads disabled (the value in any case)",
			mutate: func(s *facts.Snapshot) { setEnv(mod(s, "edgeHub"), "mqttSettings__enabled", "False") },
			policy: inUse("amqp", "http"),
			want:   []want{{module: "edgeHub", status: checks.Pass, msg: "edgeHub enables only heads in use (amqp, http)"}},
		},
		{
			name:   "the variable name is read case-insensitively",
			mutate: func(s *facts.Snapshot) { setEnv(mod(s, "edgeHub"), "MQTTSETTINGS__ENABLED", "false") },
			policy: inUse("amqp", "http"),
			want:   []want{{module: "edgeHub", status: checks.Pass, msg: "only heads in use"}},
		},
		{
			name:   "two unused heads",
			mutate: disable("mqtt"),
			policy: inUse("mqtt"),
			want:   []want{{module: "edgeHub", status: checks.Fail, msg: "the amqp, http head(s) enabled"}},
		},
		{
			name:   "no edgeHub: skip",
			mutate: func(s *facts.Snapshot) { removeContainer(s, "edgeHub") },
			want:   []want{{module: "edgeHub", status: checks.Skip, msg: "no edgeHub container"}},
		},
	})
}

func TestModuleUpdateMode(t *testing.T) {
	runCases(t, "module-update-mode", []checkCase{
		{name: "good device: WaitForAllPulls", want: []want{{module: "edgeAgent", status: checks.Pass, severity: policy.Info, msg: "edgeAgent waits for all pulls before updating modules"}}},
		{
			name:   "unset fails as info",
			mutate: func(s *facts.Snapshot) { delete(mod(s, "edgeAgent").Env, "ModuleUpdateMode") },
			want: []want{{module: "edgeAgent", status: checks.Fail, severity: policy.Info,
				msg: "edgeAgent's ModuleUpdateMode is unset (the default, NonBlocking): modules are updated one by one"}},
		},
		{
			name:   "NonBlocking set explicitly",
			mutate: func(s *facts.Snapshot) { setEnv(mod(s, "edgeAgent"), "ModuleUpdateMode", "NonBlocking") },
			want:   []want{{module: "edgeAgent", status: checks.Fail, msg: "edgeAgent's ModuleUpdateMode is NonBlocking"}},
		},
		{
			name: "name and value in any case",
			mutate: func(s *facts.Snapshot) {
				delete(mod(s, "edgeAgent").Env, "ModuleUpdateMode")
				setEnv(mod(s, "edgeAgent"), "moduleupdatemode", "waitforallpulls")
			},
			want: []want{{module: "edgeAgent", status: checks.Pass, msg: "waits for all pulls"}},
		},
		{
			name:   "no edgeAgent: skip",
			mutate: func(s *facts.Snapshot) { removeContainer(s, "edgeAgent") },
			want:   []want{{module: "edgeAgent", status: checks.Skip, msg: "no edgeAgent container"}},
		},
		{
			name:   "severity raised to warning by policy",
			mutate: func(s *facts.Snapshot) { delete(mod(s, "edgeAgent").Env, "ModuleUpdateMode") },
			policy: `{"checks":{"module-update-mode":{"severity":"warning"}}}`,
			want:   []want{{module: "edgeAgent", status: checks.Fail, severity: policy.Warning, msg: "unset"}},
		},
	})
}

func TestDeploymentTwinSize(t *testing.T) {
	bigEnv := func(n int) func(*facts.Snapshot) {
		return func(s *facts.Snapshot) { setEnv(mod(s, "sensor"), "PublishedNodes", strings.Repeat("x", n)) }
	}
	runCases(t, "deployment-twin-size", []checkCase{
		{name: "good device", want: []want{{status: checks.Pass, severity: policy.Warning, msg: "the deployment takes about 3.1 KiB of edgeAgent's twin (10% of 32 KB)"}}},
		{
			name:   "a 24 KB setting in one module's env fails",
			mutate: bigEnv(24 * 1024),
			want:   []want{{status: checks.Fail, severity: policy.Warning, msg: "of edgeAgent's twin, 85% of the 32 KB limit"}},
		},
		{
			name:   "20 KB stays under 75%",
			mutate: bigEnv(20 * 1024),
			want:   []want{{status: checks.Pass, msg: "(72% of 32 KB)"}},
		},
		{
			name:   "warnRatio lowered by policy",
			mutate: bigEnv(20 * 1024),
			policy: `{"checks":{"deployment-twin-size":{"params":{"warnRatio":0.5}}}}`,
			want:   []want{{status: checks.Fail, msg: "72% of the 32 KB limit"}},
		},
		{
			name: "the runtime's own env and the workload socket do not count",
			mutate: func(s *facts.Snapshot) {
				for _, m := range s.Modules() {
					setEnv(m, "IOTEDGE_WORKLOADURI", strings.Repeat("u", 4096))
					setEnv(m, "PATH", strings.Repeat("p", 4096))
				}
			},
			want: []want{{status: checks.Pass, msg: "about 3.1 KiB"}},
		},
		{
			name: "createOptions binds count",
			mutate: func(s *facts.Snapshot) {
				for i := 0; i < 150; i++ {
					src := "/srv/line3/data/sensor-" + strings.Repeat("d", 100)
					mod(s, "sensor").Mounts = append(mod(s, "sensor").Mounts, facts.Mount{Type: "bind", Source: src, Destination: src, RW: true})
				}
			},
			want: []want{{status: checks.Fail, msg: "of the 32 KB limit"}},
		},
		{name: "the development profile reports it as info", mutate: bigEnv(24 * 1024), policy: `{"profile":"development"}`,
			want: []want{{status: checks.Fail, severity: policy.Info, msg: "85% of the 32 KB limit"}}},
	})

	// The evidence names the largest modules, largest first.
	s := goodDevice(t)
	bigEnv(24 * 1024)(s)
	f := only(t, byID(runAll(s, decodePolicy(t, "")), "deployment-twin-size"))
	b, _ := jsonString(f.Evidence["largest"])
	if !strings.HasPrefix(b, `[{"name":"sensor","bytes":`) {
		t.Errorf("largest = %s, want sensor first", b)
	}
	if strings.Contains(b, "xxxx") {
		t.Error("the evidence carries an env value")
	}
}
