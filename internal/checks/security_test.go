package checks_test

import (
	"testing"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/facts"
	"github.com/edge-readiness/edge-readiness/internal/policy"
)

func TestPrivilegedContainers(t *testing.T) {
	caps := func(name string, c ...string) func(*facts.Snapshot) {
		return func(s *facts.Snapshot) { mod(s, name).CapAdd = c }
	}
	privileged := func(s *facts.Snapshot) { mod(s, "filter").Privileged = true }
	runCases(t, "privileged-containers", []checkCase{
		{
			name: "good device",
			want: []want{{module: "filter", status: checks.Pass, severity: policy.Critical, msg: "filter is not privileged and adds no dangerous capability"}},
		},
		{
			name: "privileged fails critically", mutate: privileged,
			want: []want{{module: "filter", status: checks.Fail, severity: policy.Critical, msg: "filter runs privileged: it can take over the host"}},
		},
		{
			name: "CAP_SYS_ADMIN", mutate: caps("sensor", "CAP_SYS_ADMIN"),
			want: []want{{module: "sensor", status: checks.Fail, msg: "sensor adds capability CAP_SYS_ADMIN: it can take over the host"}},
		},
		{
			name: "lower-case net_admin", mutate: caps("sensor", "net_admin"),
			want: []want{{module: "sensor", status: checks.Fail, msg: "adds capability net_admin"}},
		},
		{
			name: "privileged and ALL",
			mutate: func(s *facts.Snapshot) {
				privileged(s)
				caps("filter", "ALL")(s)
			},
			want: []want{{module: "filter", status: checks.Fail, msg: "filter runs privileged and adds capability ALL"}},
		},
		{
			name: "harmless capabilities pass", mutate: caps("sensor", "NET_BIND_SERVICE", "CHOWN"),
			want: []want{{module: "sensor", status: checks.Pass, msg: "adds no dangerous capability"}},
		},
		{
			name: "the development profile reports it as info", mutate: privileged, policy: `{"profile":"development"}`,
			want: []want{{module: "filter", status: checks.Fail, severity: policy.Info, msg: "runs privileged"}},
		},
		{
			name: "severity override to warning", mutate: privileged,
			policy: `{"checks":{"privileged-containers":{"severity":"warning"}}}`,
			want:   []want{{module: "filter", status: checks.Fail, severity: policy.Warning, msg: "runs privileged"}},
		},
		{
			name: "an expired exemption no longer applies", mutate: privileged,
			policy: `{"exemptions":{"gpio":{"checks":["privileged-containers"],"modules":["filter"],"reason":"GPIO access until the driver ships","expires":"2025-03-31"}}}`,
			want: []want{{module: "filter", status: checks.Fail, severity: policy.Critical,
				msg: "filter runs privileged: it can take over the host [exemption no longer applies: gpio (expired 2025-04-01T00:00:00Z)]"}},
		},
		{
			name: "a current exemption skips", mutate: privileged,
			policy: `{"exemptions":{"gpio":{"checks":["privileged-containers"],"modules":["filter"],"reason":"GPIO access until the driver ships","expires":"2025-12-31"}}}`,
			want:   []want{{module: "filter", status: checks.Skip, msg: "exempted by policy (gpio): GPIO access until the driver ships"}},
		},
	})
}

func TestHostNamespaces(t *testing.T) {
	runCases(t, "host-namespaces", []checkCase{
		{name: "good device", want: []want{{module: "sensor", status: checks.Pass, severity: policy.Warning, msg: "sensor shares no host namespace"}}},
		{
			name:   "host network",
			mutate: func(s *facts.Snapshot) { mod(s, "sensor").NetworkMode = "host" },
			want:   []want{{module: "sensor", status: checks.Fail, severity: policy.Warning, msg: "sensor shares the host's network namespace"}},
		},
		{
			name: "PID and IPC",
			mutate: func(s *facts.Snapshot) {
				mod(s, "filter").PidMode = "host"
				mod(s, "filter").IpcMode = "host"
			},
			want: []want{{module: "filter", status: checks.Fail, msg: "filter shares the host's PID, IPC namespace"}},
		},
		{
			name: "UTS and user",
			mutate: func(s *facts.Snapshot) {
				mod(s, "filter").UTSMode = "host"
				mod(s, "filter").UsernsMode = "host"
			},
			want: []want{{module: "filter", status: checks.Fail, msg: "UTS, user namespace"}},
		},
		{
			name: "private and container modes pass",
			mutate: func(s *facts.Snapshot) {
				mod(s, "filter").IpcMode = "shareable"
				mod(s, "filter").NetworkMode = "container:edgeHub"
			},
			want: []want{{module: "filter", status: checks.Pass, msg: "shares no host namespace"}},
		},
		{
			name:   "the development profile reports it as info",
			mutate: func(s *facts.Snapshot) { mod(s, "sensor").NetworkMode = "host" },
			policy: `{"profile":"development"}`,
			want:   []want{{module: "sensor", status: checks.Fail, severity: policy.Info, msg: "network namespace"}},
		},
	})
}

// withReadiness adds this module, running as a module named name, with the
// mounts it documents: the Docker socket and daemon.json, read-only.
func withReadiness(name string) func(*facts.Snapshot) {
	return func(s *facts.Snapshot) {
		c := *mod(s, "sensor")
		c.Name, c.ID = name, "f6a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4e5f6a1"
		c.Labels = map[string]string{facts.OwnerLabel: facts.OwnerValue, facts.OriginalImageLabel: "contoso.azurecr.io/edge-readiness:0.4.0"}
		c.Image = "contoso.azurecr.io/edge-readiness:0.4.0"
		c.Mounts = []facts.Mount{
			workloadSocket(name),
			{Type: "bind", Source: "/var/run/docker.sock", Destination: "/var/run/docker.sock"},
			{Type: "bind", Source: "/etc/docker/daemon.json", Destination: "/etc/docker/daemon.json"},
		}
		s.Containers = append(s.Containers, c)
	}
}

func dockerSocket(name, src string, rw bool) func(*facts.Snapshot) {
	return func(s *facts.Snapshot) {
		mod(s, name).Mounts = append(mod(s, name).Mounts, facts.Mount{Type: "bind", Source: src, Destination: "/var/run/docker.sock", RW: rw})
	}
}

func TestDockerSocketMounts(t *testing.T) {
	runCases(t, "docker-socket-mounts", []checkCase{
		{name: "good device", want: []want{{module: "filter", status: checks.Pass, severity: policy.Critical, msg: "filter does not mount the engine socket"}}},
		{
			name: "a module mounting the socket read-write fails critically", mutate: dockerSocket("filter", "/var/run/docker.sock", true),
			want: []want{{module: "filter", status: checks.Fail, severity: policy.Critical,
				msg: "filter mounts the engine socket /var/run/docker.sock (read-write) at /var/run/docker.sock: it can control every container and the host"}},
		},
		{
			name: "read-only is no better", mutate: dockerSocket("filter", "/run/docker.sock", false),
			want: []want{{module: "filter", status: checks.Fail, msg: "mounts the engine socket /run/docker.sock (read-only)"}},
		},
		{
			name: "containerd's socket", mutate: dockerSocket("sensor", "/run/containerd/containerd.sock", true),
			want: []want{{module: "sensor", status: checks.Fail, msg: "/run/containerd/containerd.sock"}},
		},
		{
			name: "the development profile reports it as info", mutate: dockerSocket("filter", "/var/run/docker.sock", true),
			policy: `{"profile":"development"}`,
			want:   []want{{module: "filter", status: checks.Fail, severity: policy.Info, msg: "mounts the engine socket"}},
		},
	})

	// This module's own mount is exempted by name (Input.Self), visibly; another module's is not.
	t.Run("built-in exemption of this module's socket", func(t *testing.T) {
		s := goodDevice(t)
		withReadiness("readiness")(s)
		dockerSocket("filter", "/var/run/docker.sock", false)(s)
		fs := byID(checks.Run(checks.All(), checks.Input{Snap: s, Self: "readiness"}, decodePolicy(t, "")), "docker-socket-mounts")
		expectFindings(t, fs, []want{
			{module: "readiness", status: checks.Skip, severity: policy.Critical,
				msg: "exempted by policy (builtin-own-docker-socket): edge-readiness reads the Docker engine through this socket; mount it read-only"},
			{module: "filter", status: checks.Fail, severity: policy.Critical, msg: "filter mounts the engine socket"},
		})
		for _, f := range fs {
			if f.Module == "readiness" && (f.Exemption != "builtin-own-docker-socket" || f.Evidence["statusWithoutExemption"] != "fail" || f.Counts()) {
				t.Errorf("readiness: exemption %q evidence %v counts %v", f.Exemption, f.Evidence, f.Counts())
			}
		}
	})
	t.Run("the exemption follows the module's name", func(t *testing.T) {
		s := goodDevice(t)
		withReadiness("readiness")(s)
		for _, self := range []string{"", "edgeReadiness"} {
			fs := byID(checks.Run(checks.All(), checks.Input{Snap: s, Self: self}, decodePolicy(t, "")), "docker-socket-mounts")
			expectFindings(t, fs, []want{{module: "readiness", status: checks.Fail, msg: "readiness mounts the engine socket /var/run/docker.sock (read-only)"}})
		}
	})
}

func TestSensitiveHostMounts(t *testing.T) {
	bind := func(name, src, dest string, rw bool) func(*facts.Snapshot) {
		return func(s *facts.Snapshot) {
			mod(s, name).Mounts = append(mod(s, name).Mounts, facts.Mount{Type: "bind", Source: src, Destination: dest, RW: rw})
		}
	}
	runCases(t, "sensitive-host-mounts", []checkCase{
		{
			name: "good device: the workload sockets under /var/lib/aziot are not flagged",
			want: []want{{module: "filter", status: checks.Pass, severity: policy.Warning, msg: "filter binds no sensitive host directory read-write"}},
		},
		{
			name: "another workload socket, explicitly",
			mutate: func(s *facts.Snapshot) {
				mod(s, "sensor").Mounts = []facts.Mount{{Type: "bind", Source: "/var/lib/aziot/edged/mnt/x.sock", Destination: "/var/run/iotedge/workload.sock", RW: true}}
			},
			want: []want{{module: "sensor", status: checks.Pass, msg: "binds no sensitive host directory"}},
		},
		{
			name: "the root of the host", mutate: bind("filter", "/", "/host", true),
			want: []want{{module: "filter", status: checks.Fail, severity: policy.Warning, msg: "filter binds / read-write"}},
		},
		{
			name: "a directory under /etc", mutate: bind("filter", "/etc/ssl/", "/etc/ssl", true),
			want: []want{{module: "filter", status: checks.Fail, msg: "filter binds /etc/ssl read-write"}},
		},
		{
			name: "read-only is fine", mutate: bind("filter", "/etc/ssl", "/etc/ssl", false),
			want: []want{{module: "filter", status: checks.Pass, msg: "binds no sensitive host directory"}},
		},
		{
			name: "IoT Edge's secrets", mutate: bind("sensor", "/var/lib/aziot", "/aziot", true),
			want: []want{{module: "sensor", status: checks.Fail, msg: "sensor binds /var/lib/aziot read-write"}},
		},
		{
			name:   "a runtime socket mounted somewhere else is not the runtime's mount",
			mutate: bind("sensor", "/var/lib/aziot/edged/mnt/edgeAgent.sock", "/data/agent.sock", true),
			want:   []want{{module: "sensor", status: checks.Fail, msg: "sensor binds /var/lib/aziot/edged/mnt/edgeAgent.sock read-write"}},
		},
		{
			name: "a single device is not flagged", mutate: bind("sensor", "/dev/ttyUSB0", "/dev/ttyUSB0", true),
			want: []want{{module: "sensor", status: checks.Pass, msg: "binds no sensitive host directory"}},
		},
		{
			name: "all of /dev and /proc",
			mutate: func(s *facts.Snapshot) {
				bind("sensor", "/dev", "/dev", true)(s)
				bind("sensor", "/proc/", "/host/proc", true)(s)
			},
			want: []want{{module: "sensor", status: checks.Fail, msg: "sensor binds /dev, /proc read-write"}},
		},
		{
			name: "the development profile reports it as info", mutate: bind("filter", "/", "/host", true), policy: `{"profile":"development"}`,
			want: []want{{module: "filter", status: checks.Fail, severity: policy.Info, msg: "binds / read-write"}},
		},
	})
}

func TestExposedPorts(t *testing.T) {
	publish := func(name, container, hostIP, hostPort string) func(*facts.Snapshot) {
		return func(s *facts.Snapshot) {
			mod(s, name).Ports = append(mod(s, name).Ports, facts.PortBinding{ContainerPort: container, HostIP: hostIP, HostPort: hostPort})
		}
	}
	runCases(t, "exposed-ports", []checkCase{
		{
			name: "good device: edgeHub's 443, 5671 and 8883 on all interfaces are expected",
			want: []want{{module: "edgeHub", status: checks.Pass, severity: policy.Warning, msg: "edgeHub publishes no port on all interfaces"}},
		},
		{
			name: "a custom module on all interfaces", mutate: publish("filter", "8080/tcp", "", "8080"),
			want: []want{{module: "filter", status: checks.Fail, severity: policy.Warning, msg: "filter publishes 8080/tcp on all interfaces (host port 8080)"}},
		},
		{
			name: "IPv6 any", mutate: publish("filter", "8080/tcp", "::", "8080"),
			want: []want{{module: "filter", status: checks.Fail, msg: "8080/tcp on all interfaces"}},
		},
		{
			name: "one interface is fine", mutate: publish("filter", "8080/tcp", "127.0.0.1", "8080"),
			want: []want{{module: "filter", status: checks.Pass, msg: "publishes no port on all interfaces"}},
		},
		{
			name: "plain MQTT anywhere", mutate: publish("edgeHub", "1883/tcp", "127.0.0.1", "1883"),
			want: []want{{module: "edgeHub", status: checks.Fail, msg: "edgeHub publishes plain MQTT 1883/tcp on 127.0.0.1"}},
		},
		{
			name: "host port 1883", mutate: publish("sensor", "8883/tcp", "", "1883"),
			want: []want{{module: "sensor", status: checks.Fail, msg: "plain MQTT 8883/tcp on all interfaces"}},
		},
		{
			name: "edgeHub's metrics port on all interfaces", mutate: publish("edgeHub", "9600/tcp", "0.0.0.0", "9600"),
			want: []want{{module: "edgeHub", status: checks.Fail, msg: "edgeHub publishes 9600/tcp on all interfaces (host port 9600)"}},
		},
		{
			name: "the MQTT TLS port is edgeHub's only", mutate: publish("filter", "8883/tcp", "", "8884"),
			want: []want{{module: "filter", status: checks.Fail, msg: "8883/tcp on all interfaces (host port 8884)"}},
		},
		{
			name: "the development profile reports it as info", mutate: publish("filter", "8080/tcp", "", "8080"),
			policy: `{"profile":"development"}`,
			want:   []want{{module: "filter", status: checks.Fail, severity: policy.Info, msg: "on all interfaces"}},
		},
	})
}

func TestPrivateRegistry(t *testing.T) {
	allowed := `{"checks":{"private-registry":{"params":{"allowedRegistries":["contoso.azurecr.io"]}}}}`
	runCases(t, "private-registry", []checkCase{
		{name: "good device", want: []want{{module: "filter", status: checks.Pass, severity: policy.Warning, msg: "filter's image comes from contoso.azurecr.io"}}},
		{
			name:   "Docker Hub, short form",
			mutate: func(s *facts.Snapshot) { setImage(mod(s, "filter"), "contosoiot/filter:2.3.1") },
			want:   []want{{module: "filter", status: checks.Fail, severity: policy.Warning, msg: "filter's image contosoiot/filter:2.3.1 comes from Docker Hub"}},
		},
		{
			name:   "Docker Hub, long form",
			mutate: func(s *facts.Snapshot) { setImage(mod(s, "sensor"), "docker.io/library/eclipse-mosquitto:2.0.18") },
			want:   []want{{module: "sensor", status: checks.Fail, msg: "comes from Docker Hub"}},
		},
		{
			name: "outside allowedRegistries",
			mutate: func(s *facts.Snapshot) {
				setImage(mod(s, "metricsCollector"), "mcr.microsoft.com/azureiotedge-metrics-collector:1.1")
			},
			policy: allowed,
			want: []want{{module: "metricsCollector", status: checks.Fail,
				msg: "metricsCollector's image comes from mcr.microsoft.com, outside allowedRegistries (contoso.azurecr.io)"}},
		},
		{
			name:   "inside allowedRegistries",
			policy: allowed,
			want:   []want{{module: "sensor", status: checks.Pass, msg: "sensor's image comes from contoso.azurecr.io"}},
		},
		{
			name:   "the runtime modules are runtime-images-private-registry's business",
			mutate: func(s *facts.Snapshot) { setImage(mod(s, "edgeAgent"), "mcr.microsoft.com/azureiotedge-agent:1.5.21") },
			policy: allowed,
			want:   []want{{module: "filter", status: checks.Pass, msg: "contoso.azurecr.io"}},
		},
		{
			name:   "not a valid reference",
			mutate: func(s *facts.Snapshot) { setImage(mod(s, "filter"), "contoso.azurecr.io/Filter:2.3.1") },
			want:   []want{{module: "filter", status: checks.Fail, msg: `filter's image "contoso.azurecr.io/Filter:2.3.1" is not a valid reference`}},
		},
		{
			name:   "the development profile reports it as info",
			mutate: func(s *facts.Snapshot) { setImage(mod(s, "filter"), "contosoiot/filter:2.3.1") },
			policy: `{"profile":"development"}`,
			want:   []want{{module: "filter", status: checks.Fail, severity: policy.Info, msg: "Docker Hub"}},
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
