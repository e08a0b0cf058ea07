package rules

import (
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/distribution/reference"

	"github.com/edge-readiness/edge-readiness/internal/facts"
)

// The view is what a rule sees: the same typed fields whatever the source of
// the facts (a device, a saved snapshot, a support bundle, a deployment
// manifest). Field names are the cel tags; README's "Rules" section lists
// them with the sources that fill each. A field its source lacks is never
// guessed: a rule that reads it skips, naming it (see lacking).

// Module is one module as a rule sees it (variable `module`, and each
// element of `device.modules`).
type Module struct {
	Name   string `cel:"name"`
	System bool   `cel:"system"` // edgeAgent or edgeHub
	Image  Image  `cel:"image"`
	// Env maps each environment variable to its value (values are secrets:
	// messages are scrubbed, but a rule should name variables, not values).
	Env    map[string]string `cel:"env"`
	Labels map[string]string `cel:"labels"`
	// CreateOptions is the create body as edgeAgent hands it to the engine
	// (Image, Env, Labels, HostConfig), rebuilt from the facts in the
	// Docker Engine API's names; HostConfig is its HostConfig.
	CreateOptions map[string]any `cel:"createOptions"`
	HostConfig    map[string]any `cel:"hostConfig"`
	// Status is the container's state (running, exited, ...): not in a manifest.
	Status string `cel:"status"`
	// RestartPolicy is the deployment's restartPolicy of the module
	// (always, on-failure, on-unhealthy, never): only a manifest holds it.
	RestartPolicy string `cel:"restartPolicy"`
}

// Image is a module's image as the deployment names it.
type Image struct {
	Reference  string `cel:"reference"`  // as written: contoso.azurecr.io/filter:1.2
	Registry   string `cel:"registry"`   // contoso.azurecr.io; docker.io for Docker Hub
	Repository string `cel:"repository"` // filter; library/alpine on Docker Hub
	Tag        string `cel:"tag"`        // "" when none
	Digest     string `cel:"digest"`     // sha256:..., "" when none
}

// Device is the device as a rule sees it (variable `device`).
type Device struct {
	Modules []Module  `cel:"modules"`
	Runtime Runtime   `cel:"runtime"`
	Engine  Engine    `cel:"engine"`
	Host    Host      `cel:"host"`
	Now     time.Time `cel:"now"` // when the facts were gathered
}

// Runtime is the IoT Edge runtime.
type Runtime struct {
	// Release is major.minor of edgeAgent's image tag (1.5), Version the
	// whole tag (1.5.3); "" when edgeAgent's image has no such tag.
	Release string `cel:"release"`
	Version string `cel:"version"`
	// DaemonVersion is the container engine daemon's version (Moby), as
	// iotedge check reports it: not in a manifest.
	DaemonVersion string `cel:"daemonVersion"`
}

// Engine is the container engine: not in a manifest.
type Engine struct {
	Version       string `cel:"version"`
	APIVersion    string `cel:"apiVersion"`
	LoggingDriver string `cel:"loggingDriver"`
}

// Host is the machine under the engine: not in a manifest.
type Host struct {
	Hostname        string `cel:"hostname"`
	OS              string `cel:"os"`
	Arch            string `cel:"arch"`
	OperatingSystem string `cel:"operatingSystem"`
	KernelVersion   string `cel:"kernelVersion"`
	NCPU            int64  `cel:"ncpu"`
	MemTotalBytes   int64  `cel:"memTotalBytes"`
}

var releaseRE = regexp.MustCompile(`^(\d+)\.(\d+)`)

// parseImage splits an image reference; what does not parse keeps only its reference.
func parseImage(s string) Image {
	img := Image{Reference: s}
	named, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return img
	}
	img.Registry, img.Repository = reference.Domain(named), reference.Path(named)
	if t, ok := named.(reference.Tagged); ok {
		img.Tag = t.Tag()
	}
	if d, ok := named.(reference.Digested); ok {
		img.Digest = d.Digest().String()
	}
	return img
}

// moduleView builds the view of one module container; dep is its entry in a
// deployment manifest (nil on a device).
func moduleView(c *facts.Container, dep *facts.Deployment) Module {
	m := Module{
		Name: c.Name, System: c.IsSystemModule(), Image: parseImage(c.OriginalImage()),
		Env: c.Env, Labels: c.Labels, Status: c.State.Status,
	}
	if m.Env == nil {
		m.Env = map[string]string{}
	}
	if m.Labels == nil {
		m.Labels = map[string]string{}
	}
	if dep != nil {
		m.Status = ""
		for i := range dep.Modules {
			if dep.Modules[i].Name == c.Name {
				m.RestartPolicy = dep.Modules[i].RestartPolicy
			}
		}
	}
	m.HostConfig = hostConfig(c)
	env := make([]any, 0, len(c.Env))
	for _, k := range sortedKeys(c.Env) {
		env = append(env, k+"="+c.Env[k])
	}
	labels := make(map[string]any, len(c.Labels))
	for k, v := range c.Labels {
		labels[k] = v
	}
	m.CreateOptions = map[string]any{"Image": c.OriginalImage(), "Env": env, "Labels": labels, "HostConfig": m.HostConfig}
	return m
}

// hostConfig rebuilds the container's HostConfig from the facts, with the
// Docker Engine API's names; a setting not given has its zero value, as
// docker inspect shows it.
func hostConfig(c *facts.Container) map[string]any {
	binds, mounts := []any{}, []any{}
	for _, mt := range c.Mounts {
		src := mt.Source
		if mt.Type == "volume" && mt.Name != "" {
			src = mt.Name
		}
		mode := "rw"
		if !mt.RW {
			mode = "ro"
		}
		if mt.Type == "bind" || (mt.Type == "volume" && src != "") {
			binds = append(binds, src+":"+mt.Destination+":"+mode)
		}
		mounts = append(mounts, map[string]any{"Type": mt.Type, "Source": src, "Target": mt.Destination, "ReadOnly": !mt.RW})
	}
	ports := map[string]any{}
	for _, p := range c.Ports {
		l, _ := ports[p.ContainerPort].([]any)
		ports[p.ContainerPort] = append(l, map[string]any{"HostIp": p.HostIP, "HostPort": p.HostPort})
	}
	logCfg := map[string]any{}
	for k, v := range c.LogConfig.Config {
		logCfg[k] = v
	}
	return map[string]any{
		"Memory": c.Memory, "NanoCpus": c.NanoCPUs, "CpuQuota": c.CPUQuota, "CpuPeriod": c.CPUPeriod,
		"Privileged": c.Privileged, "CapAdd": strs(c.CapAdd), "CapDrop": strs(c.CapDrop),
		"NetworkMode": c.NetworkMode, "PidMode": c.PidMode, "IpcMode": c.IpcMode, "UTSMode": c.UTSMode,
		"UsernsMode": c.UsernsMode, "ReadonlyRootfs": c.ReadonlyRootfs, "Dns": strs(c.DNS),
		"Binds": binds, "Mounts": mounts, "PortBindings": ports,
		"LogConfig": map[string]any{"Type": c.LogConfig.Type, "Config": logCfg},
	}
}

func strs(l []string) []any {
	out := make([]any, len(l))
	for i, s := range l {
		out[i] = s
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// deviceView builds the device's view; modules are the modules' views.
func deviceView(s *facts.Snapshot, modules []Module) Device {
	d := Device{Modules: modules, Now: s.Time}
	for _, m := range modules {
		if m.Name == facts.EdgeAgent && m.System {
			d.Runtime.Version = m.Image.Tag
			if mm := releaseRE.FindStringSubmatch(m.Image.Tag); mm != nil {
				d.Runtime.Release = mm[1] + "." + mm[2]
			}
		}
	}
	if e := s.Engine; e != nil {
		d.Runtime.DaemonVersion = e.ServerVersion
		d.Engine = Engine{Version: e.ServerVersion, APIVersion: e.APIVersion, LoggingDriver: e.LoggingDriver}
		d.Host = Host{Hostname: e.Hostname, OS: e.OS, Arch: e.Arch, OperatingSystem: e.OperatingSystem,
			KernelVersion: e.KernelVersion, NCPU: int64(e.NCPU), MemTotalBytes: e.MemTotal}
	}
	return d
}

// field is a field of the view a rule reads, as "module.status".
type field string

// fieldFacts says, for the fields that need more than the modules, the fact
// they come from; lacking decides whether the snapshot holds them.
var fieldFacts = map[field]facts.Fact{
	"device.engine": facts.FactEngine, "device.host": facts.FactEngine, "runtime.daemonVersion": facts.FactEngine,
}

// lacking says why s cannot give the field: "" when it can. The second
// result is true when the fact could not be gathered (an error), false when
// the source never holds it (a skip).
func lacking(f field, s *facts.Snapshot) (string, bool) {
	manifest := s.Deployment != nil
	switch f {
	case "module.status":
		if manifest {
			return "a deployment manifest does not hold the modules' state", false
		}
		return "", false
	case "module.restartPolicy":
		if !manifest {
			return "only a deployment manifest holds a module's restartPolicy (the engine does not)", false
		}
		return "", false
	}
	fact, ok := fieldFacts[f]
	if !ok {
		return "", false
	}
	st := s.Fact(fact)
	switch st.Status {
	case facts.StatusNotApplicable:
		return strings.TrimSpace(st.Reason), false
	case facts.StatusError:
		return "the container engine could not be read: " + st.Reason, true
	}
	if s.Engine == nil {
		return "the container engine could not be read", true
	}
	return "", false
}
