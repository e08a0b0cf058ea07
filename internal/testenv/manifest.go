package testenv

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/edge-readiness/edge-readiness/internal/facts"
)

// Manifest returns the deployment manifest (schema 1.1) that deploys the
// device's modules as Start creates them: each module's image as the
// deployment names it, its env, and createOptions with what Start passes to
// the engine from the Module (binds, named volumes, ports on every
// interface, log configuration, limits, privileges, namespaces, DNS,
// labels). What the runtime adds on a device (IOTEDGE_* variables, the
// workload socket) is not in it, as in a real manifest.
func (d *Device) Manifest() ([]byte, error) {
	entry := func(m *Module, system bool) (map[string]any, error) {
		hc := map[string]any{}
		binds := append([]string(nil), m.Binds...)
		names := make([]string, 0, len(m.VolumeMounts))
		for n := range m.VolumeMounts {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			binds = append(binds, n+":"+m.VolumeMounts[n])
		}
		if len(binds) > 0 {
			hc["Binds"] = binds
		}
		if m.LogConfig.Type != "" {
			lc := map[string]any{"Type": m.LogConfig.Type}
			if len(m.LogConfig.Config) > 0 {
				lc["Config"] = m.LogConfig.Config
			}
			hc["LogConfig"] = lc
		}
		if len(m.Ports) > 0 {
			pb := map[string]any{}
			for _, p := range m.Ports {
				host := p
				if i := len(p) - 4; i > 0 && p[i:] == "/tcp" {
					host = p[:i]
				}
				pb[p] = []map[string]string{{"HostPort": host}}
			}
			hc["PortBindings"] = pb
		}
		set := func(k string, v any, ok bool) {
			if ok {
				hc[k] = v
			}
		}
		set("Memory", m.Memory, m.Memory > 0)
		set("NanoCpus", m.NanoCPUs, m.NanoCPUs > 0)
		set("Privileged", true, m.Privileged)
		set("PidMode", m.PidMode, m.PidMode != "")
		set("IpcMode", m.IpcMode, m.IpcMode != "")
		set("UTSMode", m.UTSMode, m.UTSMode != "")
		set("CapAdd", m.CapAdd, len(m.CapAdd) > 0)
		set("CapDrop", m.CapDrop, len(m.CapDrop) > 0)
		set("ReadonlyRootfs", true, m.ReadonlyRootfs)
		set("Dns", m.DNS, len(m.DNS) > 0)
		create := map[string]any{"HostConfig": hc}
		if len(m.Labels) > 0 {
			create["Labels"] = m.Labels
		}
		co, err := json.Marshal(create)
		if err != nil {
			return nil, err
		}
		env := map[string]any{}
		for k, v := range m.Env {
			env[k] = map[string]string{"value": v}
		}
		e := map[string]any{"type": "docker", "settings": map[string]any{"image": m.Image, "createOptions": string(co)}, "env": env}
		if !system {
			e["version"], e["status"], e["restartPolicy"] = "1.0", "running", "always"
		} else if m.Name == facts.EdgeHub {
			e["status"], e["restartPolicy"] = "running", "always"
		}
		return e, nil
	}
	system := map[string]any{}
	for _, m := range []*Module{d.EdgeAgent, d.EdgeHub} {
		if m == nil {
			continue
		}
		e, err := entry(m, true)
		if err != nil {
			return nil, err
		}
		system[m.Name] = e
	}
	modules := map[string]any{}
	routes := map[string]any{}
	for _, m := range d.Modules {
		e, err := entry(m, false)
		if err != nil {
			return nil, err
		}
		modules[m.Name] = e
		routes[m.Name+"ToUpstream"] = fmt.Sprintf("FROM /messages/modules/%s/* INTO $upstream", m.Name)
	}
	doc := map[string]any{"modulesContent": map[string]any{
		"$edgeAgent": map[string]any{"properties.desired": map[string]any{
			"schemaVersion": "1.1",
			"runtime":       map[string]any{"type": "docker", "settings": map[string]any{"minDockerVersion": "v1.25"}},
			"systemModules": system,
			"modules":       modules,
		}},
		"$edgeHub": map[string]any{"properties.desired": map[string]any{
			"schemaVersion":                "1.1",
			"routes":                       routes,
			"storeAndForwardConfiguration": map[string]any{"timeToLiveSecs": 7200},
		}},
	}}
	return json.MarshalIndent(doc, "", "  ")
}
