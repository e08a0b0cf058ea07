package checks

import (
	"fmt"
	"path"
	"strings"

	"github.com/edge-readiness/edge-readiness/internal/facts"
	"github.com/edge-readiness/edge-readiness/internal/policy"
)

const cisRef = "https://www.cisecurity.org/benchmark/docker"

// dangerousCaps are capabilities that give a container the host.
var dangerousCaps = map[string]bool{"SYS_ADMIN": true, "SYS_MODULE": true, "SYS_PTRACE": true, "DAC_READ_SEARCH": true, "NET_ADMIN": true, "ALL": true}

// perModule runs f on every module and collects the results.
func perModule(in *Input, f func(m *facts.Container) Result) []Result {
	var out []Result
	for _, m := range in.Snap.Modules() {
		r := f(m)
		r.Module = m.Name
		out = append(out, r)
	}
	return out
}

var privilegedContainers = &Check{
	Meta: Meta{
		ID: "privileged-containers", Title: "No privileged modules",
		Section: SecSecurity, Seed: "Limit container access to host resources", Severity: policy.Critical, Helpful: true,
		Decides:     "A module must not run with HostConfig.Privileged nor add SYS_ADMIN, SYS_MODULE, SYS_PTRACE, DAC_READ_SEARCH, NET_ADMIN or ALL (CIS Docker 5.4, 5.5).",
		Remediation: "Remove \"Privileged\": true and the capability from the module's createOptions; grant a specific device with HostConfig.Devices instead.",
		Reference:   seedRef("limit-container-access-to-host-resources"),
		Needs:       []facts.Fact{NeedContainers},
		Reads:       facts.CreateOptionsAt("HostConfig.Privileged", "HostConfig.CapAdd"),
	},
	Eval: func(in *Input) []Result {
		return perModule(in, func(m *facts.Container) Result {
			var bad []string
			if m.Privileged {
				bad = append(bad, "runs privileged")
			}
			for _, c := range m.CapAdd {
				if dangerousCaps[strings.TrimPrefix(strings.ToUpper(c), "CAP_")] {
					bad = append(bad, "adds capability "+c)
				}
			}
			if len(bad) > 0 {
				return fail("", "%s %s: it can take over the host", m.Name, strings.Join(bad, " and ")).with("capAdd", m.CapAdd).with("privileged", m.Privileged)
			}
			return pass("", "%s is not privileged and adds no dangerous capability", m.Name)
		})
	},
}

var hostNamespaces = &Check{
	Meta: Meta{
		ID: "host-namespaces", Title: "Modules do not share host namespaces",
		Section: SecSecurity, Seed: "Limit container access to host resources", Severity: policy.Warning, Helpful: true,
		Decides:     "A module's NetworkMode, PidMode, IpcMode, UTSMode and UsernsMode must not be host (CIS Docker 5.10, 5.16, 5.17, 5.21, 5.31).",
		Remediation: "Remove NetworkMode/PidMode/IpcMode/UTSMode/UsernsMode \"host\" from the module's createOptions; publish the ports it needs instead of sharing the host network.",
		Reference:   seedRef("limit-container-access-to-host-resources"),
		Needs:       []facts.Fact{NeedContainers},
		Reads:       facts.CreateOptionsAt("HostConfig.NetworkMode", "HostConfig.PidMode", "HostConfig.IpcMode", "HostConfig.UTSMode", "HostConfig.UsernsMode"),
	},
	Eval: func(in *Input) []Result {
		return perModule(in, func(m *facts.Container) Result {
			var shared []string
			for _, ns := range []struct{ name, mode string }{{"network", m.NetworkMode}, {"PID", m.PidMode}, {"IPC", m.IpcMode},
				{"UTS", m.UTSMode}, {"user", m.UsernsMode}} {
				if ns.mode == "host" {
					shared = append(shared, ns.name)
				}
			}
			if len(shared) > 0 {
				return fail("", "%s shares the host's %s namespace", m.Name, strings.Join(shared, ", ")).with("namespaces", shared)
			}
			return pass("", "%s shares no host namespace", m.Name)
		})
	},
}

// BuiltinExemptions are exemptions every policy has: this module's own
// read-only Docker socket, which is how it reads the engine.
func BuiltinExemptions(self string) []policy.Exemption {
	if self == "" {
		return nil
	}
	return []policy.Exemption{{Name: "builtin-own-docker-socket", Checks: []string{"docker-socket-mounts"}, Modules: []string{self},
		Reason: "edge-readiness reads the Docker engine through this socket; mount it read-only"}}
}

var dockerSocketMounts = &Check{
	Meta: Meta{
		ID: "docker-socket-mounts", Title: "No module mounts the Docker socket",
		Section: SecSecurity, Seed: "Limit container access to host resources", Severity: policy.Critical, Helpful: true,
		Decides: "No module may mount the Docker engine's socket (docker.sock, or containerd's), which gives it root on the host " +
			"(CIS Docker 5.32). This module's own mount is exempted by the built-in exemption builtin-own-docker-socket.",
		Remediation: "Remove the bind of /var/run/docker.sock from the module's createOptions; a module that must manage containers belongs on a dedicated, reviewed device.",
		Reference:   cisRef,
		Needs:       []facts.Fact{NeedContainers},
		Reads:       facts.CreateOptionsAt("HostConfig.Binds", "HostConfig.Mounts"),
	},
	Eval: func(in *Input) []Result {
		return perModule(in, func(m *facts.Container) Result {
			for _, mt := range m.Mounts {
				b := path.Base(mt.Source)
				if b == "docker.sock" || b == "containerd.sock" || strings.HasSuffix(mt.Source, "/docker.sock") {
					rw := "read-only"
					if mt.RW {
						rw = "read-write"
					}
					return fail("", "%s mounts the engine socket %s (%s) at %s: it can control every container and the host", m.Name,
						mt.Source, rw, mt.Destination).with("source", mt.Source).with("rw", mt.RW)
				}
			}
			return pass("", "%s does not mount the engine socket", m.Name)
		})
	},
}

var sensitiveDirs = []string{"/", "/etc", "/boot", "/dev", "/lib", "/proc", "/sys", "/usr", "/var/lib/aziot"}

var sensitiveHostMounts = &Check{
	Meta: Meta{
		ID: "sensitive-host-mounts", Title: "No sensitive host directory mounted read-write",
		Section: SecSecurity, Seed: "Limit container access to host resources", Severity: policy.Warning, Helpful: true,
		Decides: "No module may bind /, /etc, /boot, /dev, /lib, /proc, /sys, /usr or /var/lib/aziot read-write, nor a directory " +
			"under /etc, /boot or /var/lib/aziot (CIS Docker 5.6); a single device such as /dev/ttyUSB0 is not flagged.",
		Remediation: "Bind only the directory the module needs, read-only (append :ro to the bind), or use a named volume.",
		Reference:   seedRef("limit-container-access-to-host-resources"),
		Needs:       []facts.Fact{NeedContainers},
		Reads:       facts.CreateOptionsAt("HostConfig.Binds", "HostConfig.Mounts"),
	},
	Eval: func(in *Input) []Result {
		return perModule(in, func(m *facts.Container) Result {
			var bad []string
			for _, mt := range m.Mounts {
				if mt.Type != "bind" || !mt.RW || isRuntimeSocket(mt) {
					continue
				}
				src := path.Clean(mt.Source)
				for _, d := range sensitiveDirs {
					if src == d || (d != "/" && strings.HasPrefix(src, d+"/") && (d == "/etc" || d == "/var/lib/aziot" || d == "/boot")) {
						bad = append(bad, src)
						break
					}
				}
			}
			if len(bad) > 0 {
				return fail("", "%s binds %s read-write", m.Name, strings.Join(bad, ", ")).with("mounts", bad)
			}
			return pass("", "%s binds no sensitive host directory read-write", m.Name)
		})
	},
}

var exposedPorts = &Check{
	Meta: Meta{
		ID: "exposed-ports", Title: "No port published on all interfaces",
		Section: SecSecurity, Seed: "Review outbound/inbound configuration", Severity: policy.Warning, Helpful: true,
		Decides: "A module must not publish a port on all interfaces (HostIp empty, 0.0.0.0 or ::), except edgeHub's 443, 5671 and " +
			"8883; plain MQTT 1883 must not be published at all (CIS Docker 5.14).",
		Remediation: "Bind published ports to one interface (\"HostIp\": \"127.0.0.1\" or the LAN address) in the module's PortBindings, or do not publish them; use TLS (8883) instead of 1883.",
		Reference:   seedRef("review-outboundinbound-configuration"),
		Needs:       []facts.Fact{NeedContainers},
		Reads:       facts.CreateOptionsAt("HostConfig.PortBindings"),
	},
	Eval: func(in *Input) []Result {
		return perModule(in, func(m *facts.Container) Result {
			var bad []string
			for _, p := range m.Ports {
				port := strings.SplitN(p.ContainerPort, "/", 2)[0]
				all := p.HostIP == "" || p.HostIP == "0.0.0.0" || p.HostIP == "::"
				switch {
				case port == "1883" || p.HostPort == "1883":
					bad = append(bad, fmt.Sprintf("plain MQTT %s on %s", p.ContainerPort, orName(p.HostIP, "all interfaces")))
				case all && m.Name == facts.EdgeHub && (port == "443" || port == "5671" || port == "8883"):
				case all:
					bad = append(bad, fmt.Sprintf("%s on all interfaces (host port %s)", p.ContainerPort, p.HostPort))
				}
			}
			if len(bad) > 0 {
				return fail("", "%s publishes %s", m.Name, strings.Join(bad, "; ")).with("ports", bad)
			}
			return pass("", "%s publishes no port on all interfaces", m.Name)
		})
	},
}

var privateRegistry = &Check{
	Meta: Meta{
		ID: "private-registry", Title: "Custom modules come from a private registry",
		Section: SecSecurity, Seed: "Manage access to your container registry", Severity: policy.Warning, Helpful: true,
		Decides: "A custom module's image must not come from Docker Hub, nor, when allowedRegistries is set, from a registry " +
			"outside it (compared with the image's registry host).",
		Remediation: "Push the image to your own registry (for example Azure Container Registry) and deploy it from there with registry credentials in the deployment.",
		Reference:   seedRef("manage-access-to-your-container-registry"),
		Needs:       []facts.Fact{NeedContainers},
		Reads:       []facts.Setting{facts.SettingImage},
		Params: []policy.ParamSpec{{Name: "allowedRegistries", Kind: policy.StringList, Default: []string{},
			Doc: "registry hosts custom modules may come from (empty: any but Docker Hub)"}},
	},
	Eval: func(in *Input) []Result {
		allowed := in.Params.Strings("allowedRegistries")
		var out []Result
		for _, m := range in.Snap.Modules() {
			if m.IsSystemModule() {
				continue
			}
			img := m.OriginalImage()
			ref, err := parseImage(img)
			r := Result{Module: m.Name}.with("image", img)
			switch {
			case err != nil:
				r.Status, r.Message = Fail, fmt.Sprintf("%s's image %q is not a valid reference", m.Name, img)
			case ref.domain == "docker.io":
				r.Status, r.Message = Fail, fmt.Sprintf("%s's image %s comes from Docker Hub", m.Name, img)
			case len(allowed) > 0 && !contains(allowed, ref.domain):
				r.Status, r.Message = Fail, fmt.Sprintf("%s's image comes from %s, outside allowedRegistries (%s)", m.Name, ref.domain, strings.Join(allowed, ", "))
			default:
				r.Status, r.Message = Pass, fmt.Sprintf("%s's image comes from %s", m.Name, ref.domain)
			}
			out = append(out, r)
		}
		return out
	},
}

// isRuntimeSocket tells the IoT Edge runtime's own mounts (the workload and
// management sockets aziot-edged gives every module) from a deployment's.
func isRuntimeSocket(mt facts.Mount) bool {
	return strings.HasPrefix(mt.Source, "/var/lib/aziot/edged/mnt/") && strings.HasPrefix(mt.Destination, "/var/run/iotedge/")
}

var moduleResourceLimits = &Check{
	Meta: Meta{
		ID: "module-resource-limits", Title: "Modules have memory and CPU limits",
		Section: SecSecurity, Seed: "Limit container access to host resources", Severity: policy.Critical,
		Decides: "Each module's HostConfig must set Memory, and NanoCpus or CpuQuota.",
		Remediation: "In the module's createOptions set HostConfig limits, e.g. {\"HostConfig\": {\"Memory\": 268435456, " +
			"\"NanoCpus\": 500000000}}, sized from the module's observed use (edgeAgent_used_memory_bytes).",
		Reference: seedRef("limit-container-access-to-host-resources"),
		Needs:     []facts.Fact{NeedContainers},
		Reads:     facts.CreateOptionsAt("HostConfig.Memory", "HostConfig.NanoCpus", "HostConfig.CpuQuota", "HostConfig.CpuPeriod"),
		Params: []policy.ParamSpec{
			{Name: "fixMemoryBytes", Kind: policy.Int, Max: 1 << 40, Default: 256 << 20,
				Doc: "memory limit `fix` gives a module without one, marked for review (0: none)"},
			{Name: "fixNanoCpus", Kind: policy.Int, Max: 1 << 40, Default: 500000000,
				Doc: "CPU limit in billionths of a CPU `fix` gives a module without one, marked for review (0: none)"},
		},
	},
	Eval: func(in *Input) []Result {
		var out []Result
		for _, m := range in.Snap.Modules() {
			var missing []string
			if m.Memory <= 0 {
				missing = append(missing, "memory")
			}
			if m.NanoCPUs <= 0 && m.CPUQuota <= 0 {
				missing = append(missing, "CPU")
			}
			r := Result{Module: m.Name}.with("memoryBytes", m.Memory).with("nanoCpus", m.NanoCPUs).with("cpuQuota", m.CPUQuota)
			if len(missing) > 0 {
				r.Status, r.Message = Fail, fmt.Sprintf("%s has no %s limit: one runaway module can starve the runtime", m.Name,
					strings.Join(missing, " and no "))
			} else {
				r.Status, r.Message = Pass, fmt.Sprintf("%s is limited to %s of memory and %s CPUs", m.Name, facts.BytesIEC(m.Memory), cpus(m))
			}
			out = append(out, r)
		}
		return out
	},
}

func cpus(m *facts.Container) string {
	if m.NanoCPUs > 0 {
		return fmt.Sprintf("%.2f", float64(m.NanoCPUs)/1e9)
	}
	period := m.CPUPeriod
	if period <= 0 {
		period = 100000
	}
	return fmt.Sprintf("%.2f", float64(m.CPUQuota)/float64(period))
}
