// Package manifest reads an IoT Edge deployment manifest as people have
// them (a deployment.template.json with $VAR placeholders, a generated
// config/deployment.<platform>.json, a layered deployment, an `az iot edge
// deployment show` export) and turns it into facts: one container per module,
// as edgeAgent would create it, and the manifest's own content (schema
// versions, createOptions as written, routes, places that may hold
// secrets), with the line of each module and route in the file.
package manifest

import (
	"bytes"
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/edge-readiness/edge-readiness/internal/facts"
)

// Options say how to resolve what a manifest leaves open.
type Options struct {
	// Vars resolve $NAME and ${NAME} (LoadVars: an env file and the environment).
	Vars Vars
	// ModulesDir holds one folder per module with its module.json, for
	// ${MODULES.<folder>} images; "" leaves them unresolved.
	ModulesDir string
	// Platform is the platform of ${MODULES.x} images without one; "" is amd64.
	Platform string
}

// Manifest is a deployment manifest, normalised.
type Manifest struct {
	// Path is the file it was read from.
	Path string
	// Template is true for a deployment template ($schema-template).
	Template bool
	// Layered is true for a layered deployment (keys such as
	// properties.desired.modules.<name>, or no system modules).
	Layered bool
	// AgentSchema and HubSchema are the schemaVersion of $edgeAgent and $edgeHub.
	AgentSchema, HubSchema *facts.Field
	// Modules are edgeAgent and edgeHub (when present), then the other
	// modules in file order.
	Modules []*Module
	// Routes are $edgeHub's routes in file order.
	Routes []facts.Route
	// Secrets are the places that may hold a secret, values as written.
	Secrets []facts.SecretSite
}

// Module is a module entry.
type Module struct {
	facts.DeploymentModule
	// Image is settings.image with placeholders resolved where possible;
	// ImageNote says why a placeholder is left.
	Image     facts.Field
	ImageNote string
	Env       []EnvVar
	Status    string
	// createOptions decides nothing itself: see Container.
}

// EnvVar is one variable of a module's env.
type EnvVar struct {
	Name string
	facts.Field
}

// Error is a manifest that cannot be read: Path names the place in the
// JSON document ("modulesContent.$edgeAgent.properties.desired.modules.x.settings"),
// Line its line in the file (0 when unknown).
type Error struct {
	Path string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	switch {
	case e.Path != "" && e.Line > 0:
		return fmt.Sprintf("%s (line %d): %s", e.Path, e.Line, e.Msg)
	case e.Path != "":
		return e.Path + ": " + e.Msg
	}
	return e.Msg
}

// Load reads a manifest file.
func Load(path string, opts Options) (*Manifest, error) {
	data, err := ReadFile(path)
	if err != nil {
		return nil, err
	}
	m, err := Parse(data, path, opts)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", path, err)
	}
	return m, nil
}

// Parse reads a manifest; path names it and locates ${MODULEDIR<...>}.
func Parse(data []byte, path string, opts Options) (*Manifest, error) {
	if bytes.HasPrefix(data, []byte{0xff, 0xfe}) || bytes.HasPrefix(data, []byte{0xfe, 0xff}) {
		return nil, &Error{Msg: "the file is UTF-16: save it as UTF-8"}
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	vars := opts.Vars
	if vars == nil {
		vars = Vars{}
	}
	root, err := parseTree(data)
	if err != nil {
		// A template may hold a variable where JSON wants a value
		// ("Memory": $MEMORY): the tooling expands the text before parsing it.
		if text, _ := vars.expand(string(data)); text != string(data) {
			if r, err2 := parseTree([]byte(text)); err2 == nil {
				root, err = r, nil
			}
		}
		if err != nil {
			return nil, &Error{Msg: "not JSON: " + err.Error()}
		}
	}
	if root.kind != kObject {
		return nil, &Error{Msg: fmt.Sprintf("the document is %s, not a JSON object", root.kind)}
	}
	r := &reader{vars: vars, m: &Manifest{Path: path},
		img: imageResolver{vars: vars, modulesDir: opts.ModulesDir, baseDir: filepath.Dir(path), platform: opts.Platform}}
	if v, _ := root.get("$schema-template"); v != nil {
		r.m.Template = true
	}
	mc, mcPath, err := findContent(root)
	if err != nil {
		return nil, err
	}
	if err := r.content(mc, mcPath); err != nil {
		return nil, err
	}
	return r.m, nil
}

// findContent finds the modules' content: modulesContent, or content.modulesContent
// (an `az iot edge deployment show` export, a layered deployment file), or
// the legacy moduleContent at either place.
func findContent(root *node) (*node, string, error) {
	for _, at := range []struct {
		parent string
		key    string
	}{{"", "modulesContent"}, {"", "moduleContent"}, {"content", "modulesContent"}, {"content", "moduleContent"}} {
		n := root
		path := at.key
		if at.parent != "" {
			n, _ = root.get(at.parent)
			if n == nil || n.kind != kObject {
				continue
			}
			path = at.parent + "." + at.key
		}
		if v, line := n.get(at.key); v != nil {
			if v.kind != kObject {
				return nil, "", typeError(path, line, v, "an object")
			}
			return v, path, nil
		}
	}
	if c, line := root.get("content"); c != nil && c.kind != kObject {
		return nil, "", typeError("content", line, c, "an object")
	}
	return nil, "", &Error{Msg: `no "modulesContent" (nor "content.modulesContent", nor the legacy "moduleContent"): not a deployment manifest`}
}

func typeError(path string, line int, n *node, want string) error {
	return &Error{Path: path, Line: line, Msg: fmt.Sprintf("want %s, found %s", want, n.kind)}
}

// reader normalises one manifest.
type reader struct {
	vars Vars
	img  imageResolver
	m    *Manifest
}

// field makes a manifest value of a scalar node: expanded, as written, and
// the variables left.
func (r *reader) field(n *node, line int) facts.Field {
	raw, _ := n.scalar()
	text, left := r.vars.expand(raw)
	return facts.Field{Text: text, Raw: raw, Line: line, Unresolved: left}
}

func (r *reader) scalarField(n *node, line int, path string) (facts.Field, error) {
	if _, ok := n.scalar(); !ok {
		return facts.Field{}, typeError(path, line, n, "a string")
	}
	return r.field(n, line), nil
}

func (r *reader) content(mc *node, mcPath string) error {
	var agent, hub *node
	type twin struct {
		name    string
		desired *node
	}
	var twins []twin
	for i, name := range mc.keys {
		entry, line := mc.vals[i], mc.kl[i]
		path := mcPath + "." + name
		if entry.kind == kNull {
			continue
		}
		if entry.kind != kObject {
			return typeError(path, line, entry, "an object")
		}
		desired, layered, err := desiredOf(entry, path)
		if err != nil {
			return err
		}
		r.m.Layered = r.m.Layered || layered
		switch name {
		case "$edgeAgent":
			agent = desired
		case "$edgeHub":
			hub = desired
		default:
			twins = append(twins, twin{name, desired})
		}
	}
	if agent == nil && hub == nil {
		return &Error{Path: mcPath, Msg: "neither $edgeAgent nor $edgeHub: not a deployment manifest"}
	}
	if agent != nil {
		if err := r.agent(agent, mcPath+".$edgeAgent.properties.desired"); err != nil {
			return err
		}
	}
	if hub != nil {
		if err := r.hub(hub, mcPath+".$edgeHub.properties.desired"); err != nil {
			return err
		}
	}
	for _, t := range twins {
		r.twinSecrets(t.name, t.desired, "properties.desired", "")
	}
	return nil
}

// desiredOf gathers an entry's desired properties: from "properties.desired"
// and from layered keys such as "properties.desired.modules.filter", which
// the tooling splits at the dots (iotedgedev deploymentmanifest.py dot_to_json).
func desiredOf(entry *node, path string) (*node, bool, error) {
	desired := &node{kind: kObject, line: entry.line}
	layered := false
	for i, k := range entry.keys {
		v, line := entry.vals[i], entry.kl[i]
		parts := strings.Split(k, ".")
		if parts[0] != "properties" {
			continue
		}
		if len(parts) == 1 { // "properties": {"desired": {...}}
			if v.kind != kObject {
				return nil, false, typeError(path+".properties", line, v, "an object")
			}
			d, dl := v.get("desired")
			if d == nil {
				continue
			}
			if d.kind != kObject {
				return nil, false, typeError(path+".properties.desired", dl, d, "an object")
			}
			merge(desired, d)
			continue
		}
		if parts[1] != "desired" {
			continue // reported properties, tags
		}
		rest := parts[2:]
		if len(rest) == 0 {
			if v.kind != kObject {
				return nil, false, typeError(path+"."+k, line, v, "an object")
			}
			merge(desired, v)
			continue
		}
		layered = true
		setPath(desired, rest, v, line)
	}
	return desired, layered, nil
}

// merge copies src's keys into dst, merging objects key by key.
func merge(dst, src *node) {
	if len(dst.keys) == 0 { // the usual case, kept linear
		dst.keys = append(dst.keys, src.keys...)
		dst.kl = append(dst.kl, src.kl...)
		dst.vals = append(dst.vals, src.vals...)
		return
	}
	for i, k := range src.keys {
		v := src.vals[i]
		if cur, _ := dst.get(k); cur != nil && cur.kind == kObject && v.kind == kObject {
			merge(cur, v)
			continue
		}
		set(dst, k, v, src.kl[i])
	}
}

// set sets key in an object node, replacing an earlier value.
func set(n *node, key string, v *node, line int) {
	for i := range n.keys {
		if n.keys[i] == key {
			n.vals[i], n.kl[i] = v, line
			return
		}
	}
	n.keys = append(n.keys, key)
	n.kl = append(n.kl, line)
	n.vals = append(n.vals, v)
}

// setPath sets the value at a dotted path, making the objects on the way.
func setPath(n *node, path []string, v *node, line int) {
	for _, k := range path[:len(path)-1] {
		next, _ := n.get(k)
		if next == nil || next.kind != kObject {
			next = &node{kind: kObject, line: line}
			set(n, k, next, line)
		}
		n = next
	}
	last := path[len(path)-1]
	if cur, _ := n.get(last); cur != nil && cur.kind == kObject && v.kind == kObject {
		merge(cur, v)
		return
	}
	set(n, last, v, line)
}

// object returns an object member, checking its type; nil when absent.
func object(n *node, key, path string) (*node, int, error) {
	v, line, _ := n.getFold(key)
	if v == nil || v.kind == kNull {
		return nil, line, nil
	}
	if v.kind != kObject {
		return nil, line, typeError(path+"."+key, line, v, "an object")
	}
	return v, line, nil
}

func (r *reader) agent(d *node, path string) error {
	if v, line, _ := d.getFold("schemaVersion"); v != nil {
		f, err := r.scalarField(v, line, path+".schemaVersion")
		if err != nil {
			return err
		}
		r.m.AgentSchema = &f
	}
	if err := r.registries(d, path); err != nil {
		return err
	}
	sys, _, err := object(d, "systemModules", path)
	if err != nil {
		return err
	}
	mods, _, err := object(d, "modules", path)
	if err != nil {
		return err
	}
	if sys == nil {
		r.m.Layered = true
	}
	for _, name := range []string{facts.EdgeAgent, facts.EdgeHub} {
		if v, line := sys.get(name); v != nil && v.kind != kNull {
			if err := r.module(name, v, line, true, path+".systemModules."+name); err != nil {
				return err
			}
		}
	}
	if mods != nil {
		for i, name := range mods.keys {
			v, line := mods.vals[i], mods.kl[i]
			if v.kind == kNull {
				continue
			}
			if err := r.module(name, v, line, false, path+".modules."+name); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *reader) registries(d *node, path string) error {
	rt, _, err := object(d, "runtime", path)
	if err != nil || rt == nil {
		return err
	}
	st, _, err := object(rt, "settings", path+".runtime")
	if err != nil || st == nil {
		return err
	}
	p := path + ".runtime.settings"
	creds, _, err := object(st, "registryCredentials", p)
	if err != nil || creds == nil {
		return err
	}
	for i, name := range creds.keys {
		c, line := creds.vals[i], creds.kl[i]
		if c.kind == kNull {
			continue
		}
		if c.kind != kObject {
			return typeError(p+".registryCredentials."+name, line, c, "an object")
		}
		if pw, pl, _ := c.getFold("password"); pw != nil {
			raw, ok := pw.scalar()
			if !ok {
				return typeError(p+".registryCredentials."+name+".password", pl, pw, "a string")
			}
			r.m.Secrets = append(r.m.Secrets, facts.SecretSite{Place: "registryCredentials." + name + ".password",
				Name: "password", Raw: raw, Line: pl})
		}
	}
	return nil
}

// createOptionsKeyRE matches the createOptions settings as edgeAgent finds
// them (JsonEx.ChunkedValue, case-insensitive).
var createOptionsKeyRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(?i)^createoptions([0-9]*)$`) })

func (r *reader) module(name string, n *node, line int, system bool, path string) error {
	if n.kind != kObject {
		return typeError(path, line, n, "an object")
	}
	m := &Module{DeploymentModule: facts.DeploymentModule{Name: name, System: system, Line: line}}
	settings, _, err := object(n, "settings", path)
	if err != nil {
		return err
	}
	if settings != nil {
		if v, il, _ := settings.getFold("image"); v != nil {
			f, err := r.scalarField(v, il, path+".settings.image")
			if err != nil {
				return err
			}
			img, why := r.img.resolve(f.Text)
			f.Text, f.Unresolved = img, imageVars(img)
			m.Image, m.ImageNote = f, why
		}
		for i, k := range settings.keys {
			if !createOptionsKeyRE().MatchString(k) {
				continue
			}
			v, kl := settings.vals[i], settings.kl[i]
			ch := facts.CreateOptionsChunk{Key: k, Kind: strings.TrimPrefix(strings.TrimPrefix(v.kind.String(), "an "), "a ")}
			switch v.kind {
			case kString:
				ch.Field = r.field(v, kl)
			case kObject, kArray:
				var raw, text strings.Builder
				v.compact(&raw, func(s string) string { return s })
				v.compact(&text, func(s string) string { t, _ := r.vars.expand(s); return t })
				ch.Field = facts.Field{Text: text.String(), Raw: raw.String(), Line: kl, Unresolved: unresolvedIn(text.String())}
			default:
				s, _ := v.scalar()
				ch.Field = facts.Field{Text: s, Raw: s, Line: kl}
			}
			m.CreateOptions = append(m.CreateOptions, ch)
		}
	}
	if v, sol, _ := n.getFold("startupOrder"); v != nil && v.kind != kNull {
		f, err := r.scalarField(v, sol, path+".startupOrder")
		if err != nil {
			return err
		}
		m.StartupOrder = &f
	}
	if v, _, _ := n.getFold("status"); v != nil {
		m.Status, _ = v.scalar()
	}
	if v, _, _ := n.getFold("restartPolicy"); v != nil {
		m.RestartPolicy, _ = v.scalar()
	}
	env, _, err := object(n, "env", path)
	if err != nil {
		return err
	}
	if env != nil {
		for i, k := range env.keys {
			e, el := env.vals[i], env.kl[i]
			if e.kind == kNull {
				continue
			}
			// edgeAgent reads an entry as {"value": "..."} and refuses the
			// deployment otherwise: record the entry, lint the rest.
			if e.kind != kObject {
				m.BadEnv = append(m.BadEnv, facts.BadEnvEntry{Name: k, Line: el, Found: e.kind.String()})
				continue
			}
			val, _, _ := e.getFold("value")
			f := facts.Field{Line: el}
			if val != nil {
				if _, ok := val.scalar(); !ok {
					m.BadEnv = append(m.BadEnv, facts.BadEnvEntry{Name: k, Line: el, Found: "an object whose value is " + val.kind.String()})
					continue
				}
				f = r.field(val, el)
			}
			m.Env = append(m.Env, EnvVar{Name: k, Field: f})
			r.m.Secrets = append(r.m.Secrets, facts.SecretSite{Module: name, Place: "env." + k, Name: k, Raw: f.Raw, Line: el})
		}
	}
	r.createOptionsSecrets(m)
	r.m.Modules = append(r.m.Modules, m)
	return nil
}

// imageVars lists the variables left in an image, but for the nested-edge
// $upstream host, which edgeAgent resolves itself.
func imageVars(img string) []string {
	var out []string
	for _, v := range unresolvedIn(img) {
		if v != "$upstream" {
			out = append(out, v)
		}
	}
	return out
}

// createOptionsSecrets records createOptions' Env entries as written.
func (r *reader) createOptionsSecrets(m *Module) {
	raw := joinChunks(m.CreateOptions, func(c facts.CreateOptionsChunk) string { return c.Raw })
	if !strings.Contains(raw, "Env") && !strings.Contains(strings.ToLower(raw), `"env"`) {
		return
	}
	env, ok := envEntries(raw)
	if !ok {
		return
	}
	line := 0
	if len(m.CreateOptions) > 0 {
		line = m.CreateOptions[0].Line
	}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		r.m.Secrets = append(r.m.Secrets, facts.SecretSite{Module: m.Name, Place: "createOptions Env " + k, Name: k, Raw: v, Line: line})
	}
}

// joinChunks joins createOptions settings in the order edgeAgent reads them
// (by name, ignoring case).
func joinChunks(chunks []facts.CreateOptionsChunk, text func(facts.CreateOptionsChunk) string) string {
	if len(chunks) == 1 {
		return text(chunks[0])
	}
	sorted := append([]facts.CreateOptionsChunk(nil), chunks...)
	sort.SliceStable(sorted, func(i, j int) bool { return strings.ToLower(sorted[i].Key) < strings.ToLower(sorted[j].Key) })
	var b strings.Builder
	for _, c := range sorted {
		b.WriteString(text(c))
	}
	return b.String()
}

// twinSecrets records the string values of a module twin's desired properties.
func (r *reader) twinSecrets(module string, n *node, path, name string) {
	switch n.kind {
	case kObject:
		for i, k := range n.keys {
			v := n.vals[i]
			if v.kind == kString || v.kind == kNumber {
				r.m.Secrets = append(r.m.Secrets, facts.SecretSite{Module: module, Place: path + "." + k, Name: k, Raw: v.str, Line: n.kl[i]})
				continue
			}
			r.twinSecrets(module, v, path+"."+k, k)
		}
	case kArray:
		for i, v := range n.vals {
			p := path + "[" + strconv.Itoa(i) + "]"
			if v.kind == kString {
				r.m.Secrets = append(r.m.Secrets, facts.SecretSite{Module: module, Place: p, Name: name, Raw: v.str, Line: v.line})
				continue
			}
			r.twinSecrets(module, v, p, name)
		}
	}
}

func (r *reader) hub(d *node, path string) error {
	if v, line := d.get("schemaVersion"); v != nil {
		f, err := r.scalarField(v, line, path+".schemaVersion")
		if err != nil {
			return err
		}
		r.m.HubSchema = &f
	}
	routes, _, err := object(d, "routes", path)
	if err != nil || routes == nil {
		return err
	}
	for i, name := range routes.keys {
		v, line := routes.vals[i], routes.kl[i]
		rt := facts.Route{Name: name}
		switch v.kind {
		case kNull:
			continue
		case kString:
			rt.Field = r.field(v, line)
		case kObject:
			rt.Object = true
			text, tl, _ := v.getFold("route")
			if text == nil {
				return &Error{Path: path + ".routes." + name, Line: line, Msg: `the route object has no "route"`}
			}
			if text.kind != kString {
				return typeError(path+".routes."+name+".route", tl, text, "a string")
			}
			rt.Field = r.field(text, line)
		default:
			return typeError(path+".routes."+name, line, v, `a string or an object such as {"route": "FROM ... INTO ..."}`)
		}
		r.m.Routes = append(r.m.Routes, rt)
	}
	return nil
}

// Deployment returns the manifest's content as facts.
func (m *Manifest) Deployment() *facts.Deployment {
	d := &facts.Deployment{Path: m.Path, Layered: m.Layered, AgentSchema: m.AgentSchema, HubSchema: m.HubSchema,
		Routes: m.Routes, Secrets: m.Secrets}
	for _, mod := range m.Modules {
		d.Modules = append(d.Modules, mod.DeploymentModule)
	}
	return d
}
