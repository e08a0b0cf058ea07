package checks_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/facts"
	"github.com/edge-readiness/edge-readiness/internal/policy"
)

func TestUpstreamProtocolConsistent(t *testing.T) {
	runCases(t, "upstream-protocol-consistent", []checkCase{
		{
			name: "unset on both means Amqp",
			want: []want{{status: checks.Pass, msg: "edgeAgent and edgeHub both use Amqp"}},
		},
		{
			name: "amqp and Amqp are the same protocol",
			mutate: func(s *facts.Snapshot) {
				setEnv(mod(s, "edgeAgent"), "UpstreamProtocol", "amqp")
				setEnv(mod(s, "edgeHub"), "UpstreamProtocol", "Amqp")
			},
			want: []want{{status: checks.Pass, msg: "both use amqp"}},
		},
		{
			name: "the variable name is read case-insensitively",
			mutate: func(s *facts.Snapshot) {
				setEnv(mod(s, "edgeAgent"), "upstreamprotocol", "MqttWs")
				setEnv(mod(s, "edgeHub"), "UpstreamProtocol", "MqttWs")
			},
			want: []want{{status: checks.Pass, msg: "both use MqttWs"}},
		},
		{
			name:   "Mqtt against unset fails",
			mutate: func(s *facts.Snapshot) { setEnv(mod(s, "edgeHub"), "UpstreamProtocol", "Mqtt") },
			want:   []want{{status: checks.Fail, msg: "edgeAgent uses Amqp (UpstreamProtocol unset: the default) but edgeHub uses Mqtt"}},
		},
		{
			name:   "AmqpWs against Amqp fails",
			mutate: func(s *facts.Snapshot) { setEnv(mod(s, "edgeAgent"), "UpstreamProtocol", "AmqpWs") },
			want:   []want{{status: checks.Fail, msg: "edgeAgent uses AmqpWs but edgeHub uses Amqp"}},
		},
		{
			name:   "no edgeHub skips",
			mutate: func(s *facts.Snapshot) { removeContainer(s, "edgeHub") },
			want:   []want{{status: checks.Skip, msg: "edgeAgent or edgeHub has no container"}},
		},
	})
}

// workloadSocket is the bind every module has; it is not storage.
func workloadSocket(module string) facts.Mount {
	return facts.Mount{Type: "bind", Source: "/var/lib/aziot/edged/mnt/" + module + ".sock", Destination: "/var/run/iotedge/workload.sock", RW: true}
}

func TestStorageMountedFromHost(t *testing.T) {
	for _, tc := range []struct{ id, module string }{
		{"edge-agent-storage-mounted-from-host", "edgeAgent"},
		{"edge-hub-storage-mounted-from-host", "edgeHub"},
	} {
		m := tc.module
		mounts := func(ms ...facts.Mount) func(*facts.Snapshot) {
			return func(s *facts.Snapshot) {
				c := mod(s, m)
				c.Mounts = append([]facts.Mount{workloadSocket(m)}, ms...)
				c.ConfigVolumes = nil
			}
		}
		bind := func(dest string) facts.Mount {
			return facts.Mount{Type: "bind", Source: "/srv/aziot/" + m, Destination: dest, RW: true}
		}
		t.Run(m, func(t *testing.T) {
			runCases(t, tc.id, []checkCase{
				{
					name:   "bind mount at /tmp/" + m,
					mutate: mounts(bind("/tmp/" + m)),
					want: []want{{module: m, status: checks.Pass,
						msg: m + " keeps its state in /tmp/" + m + ", mounted from the host at /tmp/" + m}},
				},
				{
					name:   "named volume at /tmp/" + m,
					mutate: mounts(facts.Mount{Type: "volume", Name: m + "-data", Destination: "/tmp/" + m, RW: true}),
					want:   []want{{module: m, status: checks.Pass, msg: "mounted from the host at /tmp/" + m}},
				},
				{
					name:   "mount at a parent directory",
					mutate: mounts(bind("/tmp/")),
					want:   []want{{module: m, status: checks.Pass, msg: "mounted from the host at /tmp"}},
				},
				{
					name: "storageFolder (any case) pointing to a mounted directory",
					mutate: func(s *facts.Snapshot) {
						mounts(bind("/data"))(s)
						setEnv(mod(s, m), "StorageFolder", "/data/iotedge")
					},
					want: []want{{module: m, status: checks.Pass,
						msg: "keeps its state in /data/iotedge/" + m + ", mounted from the host at /data"}},
				},
				{
					name: "storageFolder pointing away from the mount fails",
					mutate: func(s *facts.Snapshot) {
						mounts(bind("/tmp/" + m))(s)
						setEnv(mod(s, m), "storageFolder", "/var/state")
					},
					want: []want{{module: m, status: checks.Fail, msg: "keeps its state in /var/state/" + m + " inside the container"}},
				},
				{
					name: "Config.Volumes key",
					mutate: func(s *facts.Snapshot) {
						mounts()(s)
						mod(s, m).ConfigVolumes = []string{"/tmp/" + m}
					},
					want: []want{{module: m, status: checks.Pass, msg: "mounted from the host at /tmp/" + m}},
				},
				{
					name:   "not mounted fails",
					mutate: mounts(),
					want: []want{{module: m, status: checks.Fail,
						msg: m + " keeps its state in /tmp/" + m + " inside the container: messages and state are lost when the container is recreated"}},
				},
				{
					name:   "tmpfs does not count",
					mutate: mounts(facts.Mount{Type: "tmpfs", Destination: "/tmp", RW: true}),
					want:   []want{{module: m, status: checks.Fail, msg: "inside the container"}},
				},
				{
					name:   "a sibling with the same prefix does not count",
					mutate: mounts(bind("/tmp/"+m+"-old"), bind("/tm")),
					want:   []want{{module: m, status: checks.Fail, msg: "inside the container"}},
				},
				{
					name:   "no container skips",
					mutate: func(s *facts.Snapshot) { removeContainer(s, m) },
					want:   []want{{module: m, status: checks.Skip, msg: "no " + m + " container"}},
				},
			})
		})
	}
}

func TestEdgehubOptimizeForPerformance(t *testing.T) {
	constrained := func(f func(*facts.Snapshot)) func(*facts.Snapshot) {
		return func(s *facts.Snapshot) {
			s.Engine.MemTotal = 512 * mib
			if f != nil {
				f(s)
			}
		}
	}
	runCases(t, "edgehub-optimize-for-performance", []checkCase{
		{
			name: "not constrained skips",
			want: []want{{module: "edgeHub", status: checks.Skip, msg: "the device is not constrained (8.0 GiB of memory, x86_64)"}},
		},
		{
			name:   "512 MiB with OptimizeForPerformance unset fails",
			mutate: constrained(nil),
			want: []want{{module: "edgeHub", status: checks.Fail,
				msg: "the device is constrained (512.0 MiB of memory) but edgeHub's OptimizeForPerformance is unset (defaults to true)"}},
		},
		{
			name:   "512 MiB with false passes",
			mutate: constrained(func(s *facts.Snapshot) { setEnv(mod(s, "edgeHub"), "OptimizeForPerformance", "false") }),
			want:   []want{{module: "edgeHub", status: checks.Pass, msg: "edgeHub has OptimizeForPerformance=false on a constrained device (512.0 MiB of memory)"}},
		},
		{
			name:   "512 MiB with False (any case, in name and value) passes",
			mutate: constrained(func(s *facts.Snapshot) { setEnv(mod(s, "edgeHub"), "optimizeForPerformance", "False") }),
			want:   []want{{module: "edgeHub", status: checks.Pass, msg: "OptimizeForPerformance=false"}},
		},
		{
			name: "armv7l with true fails",
			mutate: func(s *facts.Snapshot) {
				s.Engine.Arch = "armv7l"
				s.Engine.MemTotal = 2 * gib
				setEnv(mod(s, "edgeHub"), "OptimizeForPerformance", "true")
			},
			want: []want{{module: "edgeHub", status: checks.Fail,
				msg: "the device is constrained (a 32-bit architecture (armv7l)) but edgeHub's OptimizeForPerformance is \"true\""}},
		},
		{
			name:   "param constrainedMemoryBytes makes 8 GiB constrained",
			policy: `{"checks":{"edgehub-optimize-for-performance":{"params":{"constrainedMemoryBytes":17179869184}}}}`,
			want:   []want{{module: "edgeHub", status: checks.Fail, msg: "constrained (8.0 GiB of memory)"}},
		},
		{
			name:   "param constrainedMemoryBytes makes 512 MiB unconstrained",
			mutate: constrained(nil),
			policy: `{"checks":{"edgehub-optimize-for-performance":{"params":{"constrainedMemoryBytes":268435456}}}}`,
			want:   []want{{module: "edgeHub", status: checks.Skip, msg: "not constrained"}},
		},
		{
			name:   "constrained without edgeHub skips",
			mutate: constrained(func(s *facts.Snapshot) { removeContainer(s, "edgeHub") }),
			want:   []want{{module: "edgeHub", status: checks.Skip, msg: "no edgeHub container"}},
		},
	})
}

func TestNoDebugImages(t *testing.T) {
	publish := func(module, port string) func(*facts.Snapshot) {
		return func(s *facts.Snapshot) {
			c := mod(s, module)
			c.Ports = append(c.Ports, facts.PortBinding{ContainerPort: port, HostPort: port[:4]})
		}
	}
	runCases(t, "no-debug-images", []checkCase{
		{
			name: "release images pass",
			want: []want{
				{module: "edgeAgent", status: checks.Pass, msg: "edgeAgent runs a release image (contoso.azurecr.io/azureiotedge-agent:1.5.21)"},
				{module: "edgeHub", status: checks.Pass, msg: "edgeHub runs a release image"},
				{module: "filter", status: checks.Pass, msg: "filter runs a release image (contoso.azurecr.io/filter:2.3.1) with no debugger port"},
				{module: "sensor", status: checks.Pass, msg: "sensor runs a release image"},
			},
		},
		{
			name:   ".debug tag fails",
			mutate: func(s *facts.Snapshot) { setImage(mod(s, "filter"), "contoso.azurecr.io/filter:0.0.1-amd64.debug") },
			want:   []want{{module: "filter", status: checks.Fail, msg: "filter: its image contoso.azurecr.io/filter:0.0.1-amd64.debug is a debug build"}},
		},
		{
			name:   "-debug tag fails",
			mutate: func(s *facts.Snapshot) { setImage(mod(s, "sensor"), "contoso.azurecr.io/sensor:1.2.3-debug") },
			want:   []want{{module: "sensor", status: checks.Fail, msg: "is a debug build"}},
		},
		{
			name: "debug tag on edgeHub fails too",
			mutate: func(s *facts.Snapshot) {
				setImage(mod(s, "edgeHub"), "mcr.microsoft.com/azureiotedge-hub:1.5.21-debug")
			},
			want: []want{{module: "edgeHub", status: checks.Fail, msg: "is a debug build"}},
		},
		{
			name:   "debugpy port 5678 on a custom module fails",
			mutate: publish("filter", "5678/tcp"),
			want:   []want{{module: "filter", status: checks.Fail, msg: "it publishes debugpy debugger port 5678/tcp on host port 5678"}},
		},
		{
			name:   "node inspector port 9229 fails",
			mutate: publish("sensor", "9229/tcp"),
			want:   []want{{module: "sensor", status: checks.Fail, msg: "node inspector debugger port 9229/tcp"}},
		},
		{
			name:   "vsdbg port 4022 fails",
			mutate: publish("filter", "4022/tcp"),
			want:   []want{{module: "filter", status: checks.Fail, msg: "vsdbg debugger port 4022/tcp"}},
		},
		{
			name: "debug tag and debugger port are both named",
			mutate: func(s *facts.Snapshot) {
				setImage(mod(s, "filter"), "contoso.azurecr.io/filter:2.3.1-debug")
				publish("filter", "5678/tcp")(s)
			},
			want: []want{{module: "filter", status: checks.Fail, msg: "is a debug build; it publishes debugpy debugger port"}},
		},
		{
			name:   "the same port on edgeHub does not count",
			mutate: publish("edgeHub", "5678/tcp"),
			want:   []want{{module: "edgeHub", status: checks.Pass, msg: "edgeHub runs a release image"}},
		},
		{
			name:   "another port on a custom module does not count",
			mutate: publish("filter", "8080/tcp"),
			want:   []want{{module: "filter", status: checks.Pass, msg: "with no debugger port"}},
		},
	})
}

func TestModulesRunning(t *testing.T) {
	state := func(module string, f func(st *facts.State)) func(*facts.Snapshot) {
		return func(s *facts.Snapshot) { f(&mod(s, module).State) }
	}
	exited := func(code int, oom bool) func(st *facts.State) {
		return func(st *facts.State) {
			st.Status, st.Running, st.ExitCode, st.OOMKilled = "exited", false, code, oom
			st.FinishedAt = snapTime.Add(-2 * time.Minute)
		}
	}
	restarts := func(n int, age time.Duration) func(st *facts.State) {
		return func(st *facts.State) {
			st.RestartCount = n
			st.Created = snapTime.Add(-age)
			st.StartedAt = snapTime.Add(-time.Minute)
		}
	}
	expect := func(module string) func(*facts.Snapshot) {
		return func(s *facts.Snapshot) {
			addSample(s, facts.EdgeAgent, "edgeAgent_total_time_expected_running_seconds",
				map[string]string{"module_name": module, "ms_telemetry": "False"}, 600)
		}
	}
	runCases(t, "modules-running", []checkCase{
		{
			name: "all running passes",
			want: []want{
				{module: "edgeAgent", status: checks.Pass, msg: "edgeAgent is running (0 restarts)"},
				{module: "edgeHub", status: checks.Pass, msg: "edgeHub is running"},
				{module: "filter", status: checks.Pass, msg: "filter is running"},
				{module: "sensor", status: checks.Pass, msg: "sensor is running (1 restart)"},
			},
		},
		{
			name:   "exited module fails with its exit code",
			mutate: state("filter", exited(1, false)),
			want:   []want{{module: "filter", status: checks.Fail, msg: "filter is not running: status exited (exit code 1)"}},
		},
		{
			name: "exited module with an engine error names it",
			mutate: state("filter", func(st *facts.State) {
				exited(127, false)(st)
				st.Status = "created"
				st.Error = "failed to create task for container: exec: \"/app/filter\": no such file or directory"
			}),
			want: []want{{module: "filter", status: checks.Fail, msg: "status created (exit code 127, error: failed to create task"}},
		},
		{
			name:   "OOM-killed and exited fails",
			mutate: state("sensor", exited(137, true)),
			want:   []want{{module: "sensor", status: checks.Fail, msg: "status exited (exit code 137, killed for running out of memory)"}},
		},
		{
			name: "restarting fails",
			mutate: state("filter", func(st *facts.State) {
				st.Status, st.Restarting, st.RestartCount = "restarting", true, 4
			}),
			want: []want{{module: "filter", status: checks.Fail, msg: "filter is restarting (4 restarts)"}},
		},
		{
			// Docker reports a paused container as Running, with status "paused".
			name:   "paused fails",
			mutate: state("filter", func(st *facts.State) { st.Status = "paused" }),
			want:   []want{{module: "filter", status: checks.Fail, msg: "filter is paused"}},
		},
		{
			name: "OOM-killed recently and running again fails",
			mutate: state("sensor", func(st *facts.State) {
				st.OOMKilled = true
				st.FinishedAt = snapTime.Add(-10 * time.Minute)
				st.StartedAt = snapTime.Add(-9 * time.Minute)
			}),
			want: []want{{module: "sensor", status: checks.Fail, msg: "sensor was killed for running out of memory within the last hour"}},
		},
		{
			name: "OOM-killed long ago and running again passes",
			mutate: state("sensor", func(st *facts.State) {
				st.OOMKilled = true
				st.FinishedAt = snapTime.Add(-48 * time.Hour)
				st.StartedAt = snapTime.Add(-48*time.Hour + time.Minute)
			}),
			want: []want{{module: "sensor", status: checks.Pass, msg: "sensor is running"}},
		},
		{
			name:   "10 restarts in a container created 30 minutes ago fails",
			mutate: state("filter", restarts(10, 30*time.Minute)),
			want:   []want{{module: "filter", status: checks.Fail, msg: "filter is restart-looping: 10 restarts, 10.0 per hour (more than 3)"}},
		},
		{
			name:   "10 restarts in a container created 10 days ago passes",
			mutate: state("filter", restarts(10, 240*time.Hour)),
			want:   []want{{module: "filter", status: checks.Pass, msg: "filter is running (10 restarts)"}},
		},
		{
			name:   "3 restarts in the first hour is not more than 3",
			mutate: state("filter", restarts(3, 20*time.Minute)),
			want:   []want{{module: "filter", status: checks.Pass, msg: "filter is running (3 restarts)"}},
		},
		{
			name:   "4 restarts in the first hour fails",
			mutate: state("filter", restarts(4, 20*time.Minute)),
			want:   []want{{module: "filter", status: checks.Fail, msg: "4 restarts, 4.0 per hour"}},
		},
		{
			name:   "param maxRestartsPerHour tolerates 10 an hour",
			mutate: state("filter", restarts(10, 30*time.Minute)),
			policy: `{"checks":{"modules-running":{"params":{"maxRestartsPerHour":10}}}}`,
			want:   []want{{module: "filter", status: checks.Pass, msg: "filter is running (10 restarts)"}},
		},
		{
			name:   "param maxRestartsPerHour 0 flags any restart",
			policy: `{"checks":{"modules-running":{"params":{"maxRestartsPerHour":0}}}}`,
			want:   []want{{module: "sensor", status: checks.Fail, msg: "sensor is restart-looping: 1 restarts"}},
		},
		{
			name:   "missing edgeHub fails",
			mutate: func(s *facts.Snapshot) { removeContainer(s, "edgeHub") },
			want: []want{{module: "edgeHub", status: checks.Fail,
				msg: "there is no edgeHub container owned by IoT Edge"}},
		},
		{
			name: "edgeHub not owned by IoT Edge is missing",
			mutate: func(s *facts.Snapshot) {
				delete(mod(s, "edgeHub").Labels, facts.OwnerLabel)
			},
			want: []want{{module: "edgeHub", status: checks.Fail, msg: "there is no edgeHub container owned by IoT Edge"}},
		},
		{
			name:   "a module edgeAgent expects without a container fails",
			mutate: expect("opcPublisher"),
			want: []want{{module: "opcPublisher", status: checks.Fail,
				msg: "edgeAgent expects module opcPublisher but it has no container"}},
		},
		{
			name:   "host is not a module",
			mutate: expect("host"),
			want:   []want{{module: "filter", status: checks.Pass, msg: "filter is running"}},
		},
		{
			name: "a stopped container IoT Edge does not own is not a module",
			mutate: func(s *facts.Snapshot) {
				s.Containers = append(s.Containers, facts.Container{ID: "e5", Name: "portainer", Image: "portainer/portainer-ce:2.19.4",
					State: facts.State{Status: "exited", ExitCode: 2}})
			},
			want: []want{{module: "filter", status: checks.Pass, msg: "filter is running"}},
		},
	})
}

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

func starts(inst string, perModule map[string]float64) func(*facts.Snapshot) {
	return func(s *facts.Snapshot) {
		for m, v := range perModule {
			addSample(s, facts.EdgeAgent, "edgeAgent_module_start_total", map[string]string{"module_name": m, "instance_number": inst}, v)
		}
	}
}

func jsonString(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}
