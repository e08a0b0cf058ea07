package manifest

import (
	"encoding/json"
	"slices"
	"sort"
	"strings"

	"github.com/docker/docker/api/types/container"

	"github.com/edge-readiness/edge-readiness/internal/createoptions"
	"github.com/edge-readiness/edge-readiness/internal/facts"
)

// JoinedCreateOptions is the module's createOptions as edgeAgent joins them:
// createOptions, createOptions01, ... in order, variables expanded.
func (m *Module) JoinedCreateOptions() string {
	return joinChunks(m.CreateOptions, func(c facts.CreateOptionsChunk) string { return c.Text })
}

// Container is the container edgeAgent would create for the module: its
// image and labels, env (createOptions' Env, then the module's env on top)
// and the configuration createOptions give. When createOptions cannot be
// read, the container says so in InspectError and the checks that need its
// configuration report an error for it. Variables left unresolved are
// listed in Unresolved.
func (m *Module) Container() facts.Container {
	c := facts.Container{
		ID:    m.Name,
		Name:  m.Name,
		Image: m.Image.Text,
		Labels: map[string]string{
			facts.OwnerLabel:         facts.OwnerValue,
			facts.OriginalImageLabel: m.Image.Text,
		},
		Env:         map[string]string{},
		NetworkMode: facts.EdgeNetwork,
		Networks:    map[string]string{facts.EdgeNetwork: ""},
	}
	for _, v := range m.Image.Unresolved {
		c.Unresolved = append(c.Unresolved, facts.Unresolved{Setting: facts.SettingImage, Field: "image", Var: v})
	}
	joined := m.JoinedCreateOptions()
	req, _, err := createoptions.Parse(joined)
	var paths map[string][]string
	if err == nil {
		paths = varPaths(joined)
	}
	seen := map[string]bool{}
	for _, ch := range m.CreateOptions {
		for _, v := range ch.Unresolved {
			ps := paths[v]
			if len(ps) == 0 {
				ps = []string{""} // the place is unknown: every field may change
			}
			for _, p := range ps {
				if seen[v+"\x00"+p] {
					continue
				}
				seen[v+"\x00"+p] = true
				u := facts.Unresolved{Setting: facts.SettingCreateOptions, Field: "settings." + ch.Key, Var: v, Path: p}
				if p != "" {
					u.Field += " at " + p
				}
				c.Unresolved = append(c.Unresolved, u)
			}
		}
	}
	for _, e := range m.Env {
		for _, v := range e.Unresolved {
			c.Unresolved = append(c.Unresolved, facts.Unresolved{Setting: facts.SettingEnv, Field: "env." + e.Name, Var: v})
		}
	}
	if err != nil {
		c.InspectError = "its createOptions cannot be read (see create-options-valid): " + err.Error()
	} else {
		applyCreate(&c, req)
	}
	for _, e := range m.Env {
		c.Env[e.Name] = e.Text
	}
	return c
}

// applyCreate fills the container's configuration from the create request.
func applyCreate(c *facts.Container, req *container.CreateRequest) {
	cfg := req.Config
	for _, kv := range cfg.Env {
		k, v, _ := strings.Cut(kv, "=")
		c.Env[k] = v
	}
	for k, v := range cfg.Labels {
		if _, runtime := c.Labels[k]; !runtime { // edgeAgent sets its own labels over the module's
			c.Labels[k] = v
		}
	}
	for v := range cfg.Volumes {
		c.ConfigVolumes = append(c.ConfigVolumes, v)
	}
	hc := req.HostConfig
	if hc == nil {
		return
	}
	c.LogConfig = facts.LogConfig{Type: hc.LogConfig.Type, Config: hc.LogConfig.Config}
	c.Memory, c.NanoCPUs, c.CPUQuota, c.CPUPeriod = hc.Memory, hc.NanoCPUs, hc.CPUQuota, hc.CPUPeriod
	c.Privileged, c.CapAdd, c.CapDrop = hc.Privileged, hc.CapAdd, hc.CapDrop
	if hc.NetworkMode != "" && !hc.NetworkMode.IsDefault() {
		c.NetworkMode = string(hc.NetworkMode)
		c.Networks = map[string]string{string(hc.NetworkMode): ""}
	}
	c.PidMode, c.IpcMode = string(hc.PidMode), string(hc.IpcMode)
	c.UTSMode, c.UsernsMode = string(hc.UTSMode), string(hc.UsernsMode)
	c.ReadonlyRootfs, c.DNS = hc.ReadonlyRootfs, hc.DNS
	for _, b := range hc.Binds {
		c.Mounts = append(c.Mounts, bindMount(b))
	}
	for _, mt := range hc.Mounts {
		fm := facts.Mount{Type: string(mt.Type), Source: mt.Source, Destination: mt.Target, RW: !mt.ReadOnly}
		if mt.Type == "volume" {
			fm.Name = mt.Source
		}
		c.Mounts = append(c.Mounts, fm)
	}
	for port, bindings := range hc.PortBindings {
		for _, pb := range bindings {
			c.Ports = append(c.Ports, facts.PortBinding{ContainerPort: string(port), HostIP: pb.HostIP, HostPort: pb.HostPort})
		}
	}
	sortPorts(c.Ports)
}

// bindMount reads a Binds entry: "source:destination[:options]", a source
// without a leading "/" naming a volume; a Windows source keeps its drive
// letter ("C:\data:C:\app").
func bindMount(b string) facts.Mount {
	raw := strings.Split(b, ":")
	parts := make([]string, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		p := raw[i]
		if len(p) == 1 && isLetter(p[0]) && i+1 < len(raw) && (strings.HasPrefix(raw[i+1], `\`) || strings.HasPrefix(raw[i+1], "/")) {
			p += ":" + raw[i+1]
			i++
		}
		parts = append(parts, p)
	}
	m := facts.Mount{Type: "bind", RW: true}
	if len(parts) == 1 { // only a destination: an anonymous volume
		m.Type, m.Destination = "volume", parts[0]
		return m
	}
	m.Source, m.Destination = parts[0], parts[1]
	if len(parts) > 2 {
		for _, o := range strings.Split(parts[2], ",") {
			if o == "ro" {
				m.RW = false
			}
		}
	}
	if !strings.HasPrefix(m.Source, "/") && !strings.Contains(m.Source, `\`) && !strings.Contains(m.Source, ":") {
		m.Type, m.Name = "volume", m.Source
	}
	return m
}

func isLetter(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }

func sortPorts(ps []facts.PortBinding) {
	for i := 1; i < len(ps); i++ {
		for j := i; j > 0 && portLess(ps[j], ps[j-1]); j-- {
			ps[j], ps[j-1] = ps[j-1], ps[j]
		}
	}
}

func portLess(a, b facts.PortBinding) bool {
	if a.ContainerPort != b.ContainerPort {
		return a.ContainerPort < b.ContainerPort
	}
	return a.HostPort < b.HostPort
}

// envEntries reads the Env list of createOptions text as written.
func envEntries(text string) ([]string, bool) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal([]byte(text), &doc); err != nil {
		return nil, false
	}
	for k, v := range doc {
		if !strings.EqualFold(k, "Env") {
			continue
		}
		var env []any
		if err := json.Unmarshal(v, &env); err != nil {
			return nil, false
		}
		var out []string
		for _, e := range env {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out, true
	}
	return nil, true
}

// varPaths maps each variable left in createOptions text to the JSON paths
// (keys joined by ".", array indexes left out) of the string values that
// hold it; a variable in a key maps to the path of the object holding the
// key ("" at the top: any field). Nil when the text is no JSON.
func varPaths(text string) map[string][]string {
	if !strings.Contains(text, "$") {
		return nil
	}
	var doc any
	if err := json.Unmarshal([]byte(text), &doc); err != nil {
		return nil
	}
	out := map[string][]string{}
	add := func(s, path string) {
		for _, v := range unresolvedIn(s) {
			if !slices.Contains(out[v], path) {
				out[v] = append(out[v], path)
			}
		}
	}
	var walk func(v any, path string)
	walk = func(v any, path string) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				add(k, path)
				p := k
				if path != "" {
					p = path + "." + k
				}
				walk(e, p)
			}
		case []any:
			for _, e := range x {
				walk(e, path)
			}
		case string:
			add(x, path)
		}
	}
	walk(doc, "")
	for _, ps := range out {
		sort.Strings(ps)
	}
	return out
}
