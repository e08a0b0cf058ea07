package facts

import "strings"

// FactManifest is a deployment manifest's own content (schema versions,
// createOptions as written, routes, places that may hold secrets). Only
// check --manifest provides it; on a device it does not apply.
const FactManifest Fact = "manifest"

// NotOnDevice is why FactManifest does not apply to a device.
const NotOnDevice = "decided from a deployment manifest (check --manifest), not on a device"

// Setting is a part of a module's entry in a deployment that a check can
// decide from: its image, its createOptions or its env. A check names the
// settings it reads (checks.Meta.Reads) so that a value the manifest leaves
// as an unresolved variable turns its findings into skips.
type Setting string

// The settings of a module.
const (
	SettingImage         Setting = "image"
	SettingCreateOptions Setting = "createOptions"
	SettingEnv           Setting = "env"
)

// CreateOptionsAt is a field of createOptions, as a JSON path of the
// Docker Engine API's create body ("HostConfig.Privileged", "Env"): a check
// that reads only some fields names them, so that a variable elsewhere in
// createOptions does not hide its findings. Plain SettingCreateOptions reads
// every field.
func CreateOptionsAt(fields ...string) []Setting {
	out := make([]Setting, len(fields))
	for i, f := range fields {
		out[i] = Setting(string(SettingCreateOptions) + ":" + f)
	}
	return out
}

// Base is the setting without the createOptions fields it names:
// "createOptions:HostConfig.Binds" is "createOptions".
func (s Setting) Base() Setting {
	b, _, _ := strings.Cut(string(s), ":")
	return Setting(b)
}

// ModuleSetting is one module's setting: "edgeHub/env".
func ModuleSetting(module string, s Setting) Setting { return Setting(module + "/" + string(s)) }

// Split returns the module a setting is limited to ("" for every module)
// and the setting itself.
func (s Setting) Split() (module string, setting Setting) {
	if m, rest, ok := strings.Cut(string(s), "/"); ok {
		return m, Setting(rest)
	}
	return "", s
}

// Unresolved is a variable left in a module's setting ($VAR or ${VAR}, or
// an image placeholder such as ${MODULES.filter}): the value the device
// would get is unknown.
type Unresolved struct {
	Setting Setting `json:"setting"`
	// Field names the place: "image", "createOptions", "env.UpstreamProtocol".
	Field string `json:"field"`
	// Var is the variable as written: "${MODULES.filter}", "$CONTAINER_REGISTRY_ADDRESS".
	Var string `json:"var"`
	// Path is, for a variable in createOptions, the JSON path of the value
	// (or of the object whose key) holding it: "HostConfig.Binds", "Env".
	// It is empty when the place is unknown (createOptions do not parse, or
	// the variable is a top-level key): the variable may change any field.
	Path string `json:"path,omitempty"`
}

// UnresolvedIn returns the first variable left in one of the settings, or nil.
// A setting that names createOptions fields (CreateOptionsAt) matches a
// variable in createOptions only when the variable's path is unknown, or lies
// on, above or below one of those fields.
func (c *Container) UnresolvedIn(settings ...Setting) *Unresolved {
	for i := range c.Unresolved {
		u := &c.Unresolved[i]
		for _, s := range settings {
			base, field, _ := strings.Cut(string(s), ":")
			if Setting(base) != u.Setting {
				continue
			}
			if field == "" || u.Path == "" || pathsOverlap(u.Path, field) {
				return u
			}
		}
	}
	return nil
}

// pathsOverlap tells whether one dotted JSON path is the other or lies
// under it; keys compare without case, as the engine reads them.
func pathsOverlap(a, b string) bool {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	n := min(len(pa), len(pb))
	for i := 0; i < n; i++ {
		if !strings.EqualFold(pa[i], pb[i]) {
			return false
		}
	}
	return true
}

// Deployment is what check --manifest reads of a deployment manifest beyond
// the containers it describes; nil on a device. It holds values as written
// (secrets among them) and is never saved: it stays out of the snapshot's JSON.
type Deployment struct {
	// Path is the manifest's file.
	Path string
	// Layered is true for a layered deployment: one layer's modules and
	// routes, applied on top of a base deployment the file does not show.
	Layered bool
	// AgentSchema and HubSchema are the schemaVersion of $edgeAgent and
	// $edgeHub; nil when the file has none.
	AgentSchema, HubSchema *Field
	// Modules are the modules, edgeAgent and edgeHub first, then the others
	// in file order.
	Modules []DeploymentModule
	// Routes are $edgeHub's routes in file order.
	Routes []Route
	// Secrets are the places that may hold a secret: env values, createOptions
	// Env entries, registry passwords, modules' desired properties.
	Secrets []SecretSite
}

// Field is one value of the manifest.
type Field struct {
	// Text is the value, variables expanded; Raw is the value as written.
	Text, Raw string
	// Line is the 1-based line of the key that holds the value.
	Line int
	// Unresolved lists the variables left in Text, as written.
	Unresolved []string
}

// DeploymentModule is a module entry of $edgeAgent's desired properties.
type DeploymentModule struct {
	Name   string
	System bool // edgeAgent or edgeHub
	// Line is the 1-based line of the module's key.
	Line int
	// StartupOrder is set when the module names one (schema 1.1 and later).
	StartupOrder *Field
	// RestartPolicy is the module's restartPolicy as written ("" for none).
	RestartPolicy string
	// CreateOptions are the settings createOptions, createOptions01, ... as
	// they appear in the file (in file order); none when the module has none.
	CreateOptions []CreateOptionsChunk
	// BadEnv are the module's env entries edgeAgent cannot read (an entry
	// that is not an object such as {"value": "..."}); the manifest is read
	// on without them.
	BadEnv []BadEnvEntry
}

// BadEnvEntry is an env entry edgeAgent cannot read: Name is the variable,
// Line the line of its key, Found the JSON type written instead (its value
// is never kept: it may be a secret).
type BadEnvEntry struct {
	Name  string
	Line  int
	Found string
}

// CreateOptionsChunk is one of a module's createOptions settings.
type CreateOptionsChunk struct {
	// Key is the setting's name as written: createOptions, createOptions01, ...
	Key string
	// Kind is the JSON type of the value: string, object (a template's
	// createOptions written as JSON), or another type.
	Kind string
	Field
}

// Route is one of $edgeHub's routes.
type Route struct {
	Name string
	// Object is true when the route is written as {"route": ...} (schema 1.1
	// and later) rather than as a string.
	Object bool
	Field
}

// SecretSite is a place of the manifest that may hold a secret.
type SecretSite struct {
	// Module is the module (or module twin) the place belongs to; "" for
	// $edgeAgent's runtime settings.
	Module string
	// Place names it for a person: "env.API_KEY", "createOptions Env API_KEY",
	// "registryCredentials.acr.password", "properties.desired.settings.key".
	Place string
	// Name is the variable or property name the value is given under.
	Name string
	// Raw is the value as written in the file, before variables are expanded.
	Raw string
	// Line is the 1-based line of the place.
	Line int
}
