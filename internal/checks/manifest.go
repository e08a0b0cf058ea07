package checks

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/edge-readiness/edge-readiness/internal/createoptions"
	"github.com/edge-readiness/edge-readiness/internal/facts"
	"github.com/edge-readiness/edge-readiness/internal/policy"
)

// The checks of this file are decided from a deployment manifest (check
// --manifest); on a device they skip. edgeAgent and edgeHub read the
// deployment at run time: their rules (Azure/iotedge) are the reference.

const moduleCompositionRef = "https://learn.microsoft.com/azure/iot-edge/module-composition"

// The regular expressions of this file are compiled on first use (sync.OnceValue):
// only check --manifest reads a deployment manifest, and module mode, which
// never does, need not hold them.

// versionRE is what .NET's Version parses: major.minor[.build[.revision]].
var versionRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(\d+)\.(\d+)(\.\d+){0,2}$`) })

// defaultStartupOrder is edgeAgent's startupOrder when none is given
// (uint.MaxValue): schema 1.0 accepts only that.
const defaultStartupOrder = "4294967295"

var schemaVersionSupported = &Check{
	Meta: Meta{
		ID: "schema-version-supported", Title: "The runtime accepts the deployment's schema versions",
		Section: SecManifest, Seed: "Deployment manifest: $edgeAgent and $edgeHub schemaVersion", Severity: policy.Critical,
		Decides: "$edgeAgent's schemaVersion must be 1.0 or 1.1 (edgeAgent's ValidateSchemaVersion; 1.0 does not take a " +
			"module's startupOrder) and $edgeHub's 1.0 to 1.3 (edgeHub's EdgeHubConfigParser; 1.0 takes routes only as " +
			"strings); a missing one fails, except in a layered deployment, where the base deployment's applies. A module's " +
			"env entry that is not an object such as {\"value\": \"...\"} (a comment written as a string) fails too: edgeAgent " +
			"cannot read the desired properties and refuses the whole deployment.",
		Remediation: "Set \"schemaVersion\": \"1.1\" in $edgeAgent's and edgeHub's desired properties (\"1.2\" or \"1.3\" for " +
			"edgeHub features such as MQTT broker settings), as the IoT Edge tooling writes them; write every env entry as " +
			"{\"value\": \"...\"} and keep comments out of env.",
		Reference: moduleCompositionRef,
		Needs:     []facts.Fact{NeedManifest},
	},
	Eval: func(in *Input) []Result {
		d := in.Snap.Deployment
		out := []Result{agentSchema(d), hubSchema(d)}
		for _, m := range d.Modules {
			if len(m.BadEnv) > 0 {
				out = append(out, badEnvResult(m))
			}
		}
		return out
	},
}

// badEnvResult fails a module whose env holds entries edgeAgent cannot read
// (its EnvVal wants {"value": ...}): it names the variables, never a value.
func badEnvResult(m facts.DeploymentModule) Result {
	var names, parts []string
	for _, e := range m.BadEnv {
		names = append(names, e.Name)
		parts = append(parts, fmt.Sprintf("%s (line %d) is %s", e.Name, e.Line, e.Found))
	}
	entry := "entry"
	if len(parts) > 1 {
		entry = "entries"
	}
	return fail(m.Name, "%s's env %s %s, not an object such as {\"value\": \"...\"}: edgeAgent cannot read the desired "+
		"properties and would refuse this deployment", m.Name, entry, strings.Join(parts, "; ")).
		with("env", names).at(m.BadEnv[0].Line)
}

// parseSchema reads a schema version as .NET's Version does.
func parseSchema(s string) (major, minor int, ok bool) {
	m := versionRE().FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, 0, false
	}
	major, err1 := strconv.Atoi(m[1])
	minor, err2 := strconv.Atoi(m[2])
	return major, minor, err1 == nil && err2 == nil
}

func agentSchema(d *facts.Deployment) Result {
	const who = "$edgeAgent"
	f := d.AgentSchema
	r := Result{}.about(who)
	switch {
	case f == nil && d.Layered:
		return skip("", "a layered deployment carries no $edgeAgent schemaVersion: the base deployment's applies").about(who)
	case f == nil:
		return fail("", "$edgeAgent has no schemaVersion: edgeAgent refuses the deployment (\"Invalid desired properties schema version\")").about(who)
	case len(f.Unresolved) > 0:
		return skip("", "$edgeAgent's schemaVersion is the unresolved variable %s (line %d)", strings.Join(f.Unresolved, ", "), f.Line).about(who).at(f.Line)
	}
	r = r.with("schemaVersion", f.Text).at(f.Line)
	major, minor, ok := parseSchema(f.Text)
	if !ok || major != 1 || minor > 1 {
		r.Status, r.Message = Fail, fmt.Sprintf("$edgeAgent's schemaVersion %q (line %d) is not 1.0 or 1.1: edgeAgent refuses the deployment", f.Text, f.Line)
		return r
	}
	if minor == 0 {
		var ordered []string
		for _, m := range d.Modules {
			if m.StartupOrder != nil && strings.TrimSpace(m.StartupOrder.Text) != defaultStartupOrder {
				ordered = append(ordered, m.Name)
			}
		}
		if len(ordered) > 0 {
			r.Status, r.Message = Fail, fmt.Sprintf("$edgeAgent's schemaVersion is 1.0 but %s set%s startupOrder, which only 1.1 supports: "+
				"edgeAgent refuses the deployment", strings.Join(ordered, ", "), verbS(len(ordered)))
			return r.with("startupOrder", ordered)
		}
	}
	r.Status, r.Message = Pass, fmt.Sprintf("$edgeAgent's schemaVersion %s is one edgeAgent accepts", f.Text)
	return r
}

// at places a result at a line of the manifest.
func (r Result) at(line int) Result {
	r.Line = line
	return r
}

func verbS(n int) string {
	if n == 1 {
		return "s"
	}
	return ""
}

func hubSchema(d *facts.Deployment) Result {
	const who = "$edgeHub"
	f := d.HubSchema
	r := Result{}.about(who)
	switch {
	case f == nil && d.Layered:
		return skip("", "a layered deployment carries no $edgeHub schemaVersion: the base deployment's applies").about(who)
	case f == nil:
		return fail("", "$edgeHub has no schemaVersion: edgeHub refuses its configuration (\"EdgeHub config missing SchemaVersion\")").about(who)
	case len(f.Unresolved) > 0:
		return skip("", "$edgeHub's schemaVersion is the unresolved variable %s (line %d)", strings.Join(f.Unresolved, ", "), f.Line).about(who).at(f.Line)
	}
	r = r.with("schemaVersion", f.Text).at(f.Line)
	major, minor, ok := parseSchema(f.Text)
	if !ok || major != 1 || minor > 3 {
		r.Status, r.Message = Fail, fmt.Sprintf("$edgeHub's schemaVersion %q (line %d) is not 1.0 to 1.3: edgeHub refuses its configuration", f.Text, f.Line)
		return r
	}
	if minor == 0 {
		var objects []string
		for _, rt := range d.Routes {
			if rt.Object {
				objects = append(objects, rt.Name)
			}
		}
		if len(objects) > 0 {
			r.Status, r.Message = Fail, fmt.Sprintf("$edgeHub's schemaVersion is 1.0, which takes routes only as strings, but %s %s "+
				"written as an object (priority, timeToLiveSecs need 1.1): edgeHub refuses its configuration",
				plural(len(objects), "route"), strings.Join(objects, ", "))
			return r.with("objectRoutes", objects)
		}
	}
	r.Status, r.Message = Pass, fmt.Sprintf("$edgeHub's schemaVersion %s is one edgeHub accepts", f.Text)
	return r
}

// Twin values are at most 4 KB; the tooling splits createOptions into chunks
// of 512 characters, at most 8 of them.
const (
	twinValueMax    = 4096
	toolingChunk    = 512
	toolingMaxChunk = 8
)

var createOptionsValid = &Check{
	Meta: Meta{
		ID: "create-options-valid", Title: "Modules' createOptions are what the engine expects",
		Section: SecManifest, Seed: "Deployment manifest: settings.createOptions", Severity: policy.Critical,
		Decides: "Joins each module's createOptions, createOptions01, ... in order, as edgeAgent does; fails when a setting is " +
			"over the 4 KB twin value limit or missing from the sequence, when the joined text is not a JSON object, when a key " +
			"is not one the Docker Engine API knows at its level (a typo such as HostConfir, or Memory, Binds, PortBindings " +
			"outside HostConfig: the engine ignores it, so the module runs without the limit or mount meant), or when a value " +
			"has a type the field cannot take (edgeAgent refuses it).",
		Remediation: "Write createOptions as the Docker Engine API's container-create body: Env, Cmd, Labels, ExposedPorts at " +
			"the top, the rest (Binds, Mounts, PortBindings, Memory, NanoCpus, LogConfig, ...) inside HostConfig; let the IoT " +
			"Edge tooling split long options into createOptions01, createOptions02, ...",
		Reference: "https://learn.microsoft.com/azure/iot-edge/how-to-use-create-options",
		Needs:     []facts.Fact{NeedManifest},
		Reads:     []facts.Setting{facts.SettingCreateOptions},
	},
	Eval: func(in *Input) []Result {
		var out []Result
		for _, m := range in.Snap.Deployment.Modules {
			out = append(out, createOptionsResult(m))
		}
		return out
	},
}

var createOptionsKeyRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(?i)^createoptions([0-9]*)$`) })

func createOptionsResult(m facts.DeploymentModule) Result {
	r := Result{Module: m.Name}
	if len(m.CreateOptions) == 0 {
		return pass(m.Name, "%s has no createOptions", m.Name)
	}
	r = r.at(m.CreateOptions[0].Line)
	var problems []string
	chunks := append([]facts.CreateOptionsChunk(nil), m.CreateOptions...)
	sort.SliceStable(chunks, func(i, j int) bool { return strings.ToLower(chunks[i].Key) < strings.ToLower(chunks[j].Key) })
	template := false
	var joined strings.Builder
	for i, c := range chunks {
		num := createOptionsKeyRE().FindStringSubmatch(c.Key)[1]
		switch {
		case i == 0 && num != "":
			problems = append(problems, fmt.Sprintf("%s is there but not createOptions: edgeAgent reads the chunks from createOptions on", c.Key))
		case i > 0:
			if n, err := strconv.Atoi(num); err != nil || n != i {
				problems = append(problems, fmt.Sprintf("%s follows %s: createOptions%02d is missing from the sequence", c.Key, chunks[i-1].Key, i))
			}
		}
		switch c.Kind {
		case "string":
			if n := len(c.Text); n > twinValueMax {
				problems = append(problems, fmt.Sprintf("%s is %d bytes, over the %d-byte limit of a twin value: split it into "+
					"createOptions01, createOptions02, ...", c.Key, n, twinValueMax))
			}
		case "object":
			template = true
			if n := len(c.Text); n > toolingChunk*toolingMaxChunk {
				problems = append(problems, fmt.Sprintf("%s is %d characters once minified: the IoT Edge tooling splits it into at most "+
					"%d chunks of %d and refuses it", c.Key, n, toolingMaxChunk, toolingChunk))
			}
		default:
			problems = append(problems, fmt.Sprintf("%s is %s, not a string holding a JSON object", c.Key, article(c.Kind)))
		}
		joined.WriteString(c.Text)
	}
	text := joined.String()
	_, found, err := createoptions.Parse(text)
	switch {
	case err != nil:
		problems = append(problems, err.Error()+": edgeAgent refuses the module's settings")
	default:
		var unknown, types []string
		for _, p := range found {
			if p.Unknown {
				unknown = append(unknown, p.String())
			} else {
				types = append(types, p.String())
			}
		}
		if len(unknown) > 0 {
			r = r.with("unknownKeys", unknown)
			problems = append(problems, "the engine ignores "+strings.Join(unknown, "; "))
		}
		if len(types) > 0 {
			r = r.with("wrongTypes", types)
			problems = append(problems, "edgeAgent cannot read "+strings.Join(types, "; "))
		}
	}
	if len(problems) > 0 {
		r.Status, r.Message = Fail, fmt.Sprintf("%s's createOptions (line %d): %s", m.Name, m.CreateOptions[0].Line, strings.Join(problems, "; "))
		return r
	}
	how := "a valid container-create body"
	if template {
		how += " (written as an object: the tooling turns it into a string)"
	}
	r.Status, r.Message = Pass, fmt.Sprintf("%s's createOptions are %s", m.Name, how)
	return r.with("bytes", len(text))
}

func article(kind string) string {
	switch kind {
	case "array", "object":
		return "an " + kind
	}
	return "a " + kind
}

var routesValid = &Check{
	Meta: Meta{
		ID: "routes-valid", Title: "Routes name deployed modules and real message sources",
		Section: SecManifest, Seed: "Deployment manifest: $edgeHub routes", Severity: policy.Warning, Helpful: true,
		Decides: "Parses each of $edgeHub's routes (FROM <source> [WHERE <condition>] INTO <sink>). The source is matched as edgeHub " +
			"matches it (a case-insensitive prefix after trimming a trailing * and /): it must be /, /messages, /messages/modules, " +
			"/messages/modules/<module>[/outputs[/<output>]] with a deployed module, or /twinChangeNotifications; a path that " +
			"matches nothing (/messages/modules/X/output, a * inside the path) fails. The sink must be $upstream or " +
			"BrokeredEndpoint(\"/modules/<module>/inputs/<input>\") with a deployed module. In a layered deployment a module " +
			"not in the layer skips.",
		Remediation: "Name each route's source as /messages/modules/<module>/outputs/<output> (or /messages/modules/<module>/outputs/* " +
			"for all its outputs, /messages/* for every message) and its sink as BrokeredEndpoint(\"/modules/<module>/inputs/<input>\") " +
			"or $upstream, with the modules' names as the deployment spells them.",
		Reference: moduleCompositionRef + "#declare-routes",
		Needs:     []facts.Fact{NeedManifest},
	},
	Eval: func(in *Input) []Result {
		d := in.Snap.Deployment
		if len(d.Routes) == 0 {
			return []Result{skip("", "the deployment declares no routes")}
		}
		mods := map[string]string{"$edgeagent": facts.EdgeAgent, "$edgehub": facts.EdgeHub}
		for _, m := range d.Modules {
			mods[strings.ToLower(m.Name)] = m.Name
		}
		out := make([]Result, 0, len(d.Routes))
		for _, rt := range d.Routes {
			out = append(out, routeResult(rt, mods, d.Layered).about(rt.Name).at(rt.Line))
		}
		return out
	},
}

// routeRE is edgeHub's route grammar (Route.g4; keywords in any case).
var routeRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`(?is)^\s*(?:SELECT\s+\*\s+)?FROM\s+(\S+)(?:\s+WHERE\s+(.+?))?\s+INTO\s+(.+?)\s*$`)
})

var brokeredRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`(?s)^([A-Za-z_][A-Za-z0-9_]*)\s*\(\s*("([^"]*)"|'([^']*)')\s*\)$`)
})

func routeResult(rt facts.Route, mods map[string]string, layered bool) Result {
	text := rt.Text
	if strings.TrimSpace(text) == "" {
		return skip("", "route %s is empty: edgeHub ignores it", rt.Name)
	}
	m := routeRE().FindStringSubmatch(text)
	if left := routeVariables(rt, m); len(left) > 0 {
		return skip("", "route %s (line %d) holds the unresolved variable %s", rt.Name, rt.Line, strings.Join(left, ", "))
	}
	if m == nil {
		return fail("", "route %s (line %d) does not parse as FROM <source> [WHERE <condition>] INTO <sink>: edgeHub refuses its "+
			"whole configuration", rt.Name, rt.Line)
	}
	source, sink := m[1], strings.TrimSpace(m[3])
	var problems []string
	unknownInLayer := ""
	for i, part := range []string{source, sink} {
		check := routeSource
		if i == 1 {
			check = routeSink
		}
		p, mod := check(part, mods)
		switch {
		case mod != "" && layered:
			if unknownInLayer == "" {
				unknownInLayer = mod
			}
		case p != "":
			problems = append(problems, p)
		}
	}
	if len(problems) > 0 {
		return fail("", "route %s (line %d): %s", rt.Name, rt.Line, strings.Join(problems, "; "))
	}
	if unknownInLayer != "" {
		return skip("", "route %s names module %s, which is not in this layer: it may come from the base deployment", rt.Name, unknownInLayer)
	}
	return pass("", "route %s takes %s into %s", rt.Name, source, sink)
}

// routeVariables are the variables left in a route that decide it: in its
// source or sink, or ${...} anywhere; a condition's $name is a message
// property ($connectionDeviceId, $body.temperature), no variable.
func routeVariables(rt facts.Route, m []string) []string {
	var out []string
	for _, v := range rt.Unresolved {
		switch {
		case strings.HasPrefix(v, "${"), strings.TrimSpace(rt.Text) == v:
		case m != nil && (strings.Contains(m[1], v) || strings.Contains(m[3], v) && strings.TrimSpace(m[3]) != v):
			// A sink that is all $name is a system endpoint ($upstream), no variable.
		default:
			continue
		}
		out = append(out, v)
	}
	return out
}

// routeSource checks a FROM path as edgeHub matches it (CustomMessageSource,
// BaseMessageSource.Match). It returns a problem, or the module named that
// the deployment lacks when that is all that is wrong (layered: not a problem).
func routeSource(source string, mods map[string]string) (problem, missing string) {
	if !strings.HasPrefix(source, "/") {
		return fmt.Sprintf("its source %s does not start with /", source), ""
	}
	p := strings.TrimRight(strings.TrimSpace(source), "*")
	if len(p) > 1 {
		p = strings.TrimRight(p, "/")
	}
	var segs []string
	if p != "/" && p != "" {
		segs = strings.Split(strings.TrimPrefix(p, "/"), "/")
	}
	nothing := func(why string) (string, string) {
		return fmt.Sprintf("its source %s matches no message (%s)", source, why), ""
	}
	if len(segs) == 0 {
		return "", ""
	}
	switch strings.ToLower(segs[0]) {
	case "twinchangenotifications":
		if len(segs) == 1 {
			return "", ""
		}
		return nothing("twin change notifications are /twinChangeNotifications")
	case "messages":
	default:
		return nothing("messages come from /messages/... and /twinChangeNotifications")
	}
	if len(segs) == 1 {
		return "", ""
	}
	if !strings.EqualFold(segs[1], "modules") {
		return nothing("a module's messages are /messages/modules/<module>/outputs/<output>; devices' are /messages/*")
	}
	if len(segs) == 2 {
		return "", ""
	}
	mod := segs[2]
	switch {
	case strings.Contains(mod, "*"):
		return nothing("a * inside the path is no wildcard: edgeHub trims only a trailing *")
	case len(segs) > 3 && !strings.EqualFold(segs[3], "outputs"):
		return nothing(fmt.Sprintf("a module's messages are /messages/modules/%s/outputs/<output>, not /%s", mod, segs[3]))
	case len(segs) > 5:
		return nothing("the path is longer than /messages/modules/<module>/outputs/<output>")
	case len(segs) == 5 && strings.Contains(segs[4], "*"):
		return nothing("a * inside the path is no wildcard: edgeHub trims only a trailing *")
	}
	if _, ok := mods[strings.ToLower(mod)]; !ok {
		return fmt.Sprintf("its source names module %s, which the deployment does not have", mod), mod
	}
	return "", ""
}

// routeSink checks an INTO sink as edgeHub's EndpointFactory reads it.
func routeSink(sink string, mods map[string]string) (problem, missing string) {
	if strings.HasPrefix(sink, "$") {
		if strings.EqualFold(sink, "$upstream") {
			return "", ""
		}
		return fmt.Sprintf("its sink %s is not a system endpoint edgeHub knows ($upstream)", sink), ""
	}
	m := brokeredRE().FindStringSubmatch(sink)
	if m == nil {
		return fmt.Sprintf("its sink %s is neither $upstream nor BrokeredEndpoint(\"/modules/<module>/inputs/<input>\")", sink), ""
	}
	if !strings.EqualFold(m[1], "BrokeredEndpoint") {
		return fmt.Sprintf("its sink calls %s, which edgeHub does not know (BrokeredEndpoint)", m[1]), ""
	}
	addr := strings.TrimSpace(m[3] + m[4])
	addr = strings.TrimSuffix(strings.TrimPrefix(addr, "/"), "/")
	items := strings.Split(addr, "/")
	if len(items) != 4 {
		return fmt.Sprintf("its sink's address %q is not /modules/<module>/inputs/<input>", m[3]+m[4]), ""
	}
	if _, ok := mods[strings.ToLower(items[1])]; !ok {
		return fmt.Sprintf("its sink names module %s, which the deployment does not have", items[1]), items[1]
	}
	return "", ""
}

var manifestSecrets = &Check{
	Meta: Meta{
		ID: "manifest-secrets", Title: "No secrets written in the manifest",
		Section: SecManifest, Seed: "Deployment manifest: env, createOptions Env, registryCredentials, desired properties",
		Severity: policy.Critical,
		Decides: "Reads, as written in the file, modules' env values, createOptions Env entries, registryCredentials passwords and " +
			"modules' desired properties; fails on a literal secret: a connection string with SharedAccessKey= or AccountKey=, " +
			"a SAS token (sig=), a private key, a registry password, or a value of a variable named like a key, secret, " +
			"password or token, instead of a placeholder ($VAR, ${VAR}, $(VAR), #{VAR}#, {{VAR}}, __VAR__, <...>) resolved at " +
			"build time. Findings name the place and line, never the value.",
		Remediation: "Replace the value with a $VAR placeholder and give it at build time (.env kept out of source control, a " +
			"pipeline secret), or have the module read it at run time from a secret store; rotate a secret that was committed.",
		Reference: "https://learn.microsoft.com/azure/iot-edge/production-checklist#manage-access-to-your-container-registry",
		Needs:     []facts.Fact{NeedManifest},
	},
	Eval: func(in *Input) []Result {
		d := in.Snap.Deployment
		var out []Result
		for _, s := range d.Secrets {
			if kind := secretKind(s); kind != "" {
				where := "$edgeAgent's runtime settings"
				if s.Module != "" {
					where = s.Module
				}
				out = append(out, fail(s.Module, "%s: %s (line %d) holds %s written in the manifest", where, s.Place, s.Line, kind).
					about(s.Place).with("place", s.Place).with("kind", kind).at(s.Line))
			}
		}
		if len(out) == 0 {
			return []Result{pass("", "no literal secret in the %s the manifest gives (env values, createOptions Env, registry "+
				"credentials, desired properties)", plural(len(d.Secrets), "value"))}
		}
		return out
	},
}

// placeholderRE matches a value that is all placeholder: $VAR, ${VAR},
// $(VAR) (Azure Pipelines), #{VAR}# (Replace Tokens), {{VAR}}, __VAR__ or
// __VAR (a token a pipeline replaces), <...>, and the words samples put in
// for the reader to replace (REPLACE_ME, changeme, your-key-here, xxx).
var placeholderRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^(\$\w+|\$\{[^}]*\}|\$\([^)]*\)|#\{[^}]*\}#|\{\{[^}]*\}\}|__[A-Za-z0-9_]+|<[^<>]*>|` +
		`(?i:replace[_-]?me|change[_-]?me|todo|tbd|x{3,}|\*{3,}|your[_-].*|placeholder))$`)
})

func isPlaceholder(v string) bool {
	v = strings.TrimSpace(v)
	return v == "" || placeholderRE().MatchString(v)
}

var (
	connKeyRE  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(?i)(SharedAccessKey|AccountKey)=([^;]*)`) })
	sasSigRE   = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(?i)(?:^|[?&\s])sig=([^&;\s]+)`) })
	pemKeyRE   = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`-----BEGIN [A-Z ]*PRIVATE KEY-----`) })
	secretWord = map[string]bool{"key": true, "secret": true, "password": true, "passwd": true, "pwd": true, "token": true,
		"passphrase": true, "apikey": true, "sas": true, "credential": true, "credentials": true}
)

// secretKind says what secret a place holds, or "" when it holds none (or
// only placeholders).
func secretKind(s facts.SecretSite) string {
	v := strings.TrimSpace(s.Raw)
	if isPlaceholder(v) {
		return ""
	}
	if m := connKeyRE().FindStringSubmatch(v); m != nil && !isPlaceholder(m[2]) {
		return "a connection string with " + m[1] + "="
	}
	if strings.Contains(strings.ToLower(v), "sharedaccesssignature") || strings.Contains(v, "sr=") {
		if m := sasSigRE().FindStringSubmatch(v); m != nil && !isPlaceholder(m[1]) {
			return "a SAS token (sig=)"
		}
	}
	if pemKeyRE().MatchString(v) {
		return "a private key"
	}
	if s.Module == "" && strings.HasSuffix(s.Place, ".password") {
		return "a registry password"
	}
	if secretName(s.Name) && !harmless(v) {
		return "a literal value of " + s.Name
	}
	return ""
}

// secretName tells whether a variable is named like a secret: its last
// word is key, secret, password, token, ... (API_KEY, SharedAccessKey,
// dbPassword; not KeyVaultName nor TokenEndpoint).
func secretName(name string) bool {
	words := splitWords(name)
	return len(words) > 0 && secretWord[words[len(words)-1]]
}

// splitWords splits an identifier at non-letters and at case changes,
// lower-cased: "SharedAccessKey" -> shared access key, "APIKey" -> api key.
func splitWords(s string) []string {
	var words []string
	var cur []rune
	rs := []rune(s)
	flush := func() {
		if len(cur) > 0 {
			words = append(words, strings.ToLower(string(cur)))
			cur = cur[:0]
		}
	}
	isUpper := func(r rune) bool { return r >= 'A' && r <= 'Z' }
	isLower := func(r rune) bool { return r >= 'a' && r <= 'z' }
	isDigit := func(r rune) bool { return r >= '0' && r <= '9' }
	for i, r := range rs {
		if !isUpper(r) && !isLower(r) && !isDigit(r) {
			flush()
			continue
		}
		if isUpper(r) && len(cur) > 0 {
			prev := rs[i-1]
			nextLower := i+1 < len(rs) && isLower(rs[i+1])
			if isLower(prev) || isDigit(prev) || (isUpper(prev) && nextLower) {
				flush()
			}
		}
		cur = append(cur, r)
	}
	flush()
	return words
}

// harmless are values a secret-named variable holds that are no secret: a
// switch, a path or URL to where the secret is kept.
func harmless(v string) bool {
	lv := strings.ToLower(v)
	switch lv {
	case "true", "false", "null", "none", "yes", "no":
		return true
	}
	return strings.HasPrefix(v, "/") || strings.HasPrefix(v, "./") || strings.HasPrefix(lv, "http://") ||
		strings.HasPrefix(lv, "https://") || strings.HasPrefix(lv, "file:") || (len(v) > 2 && v[1] == ':' && (v[2] == '\\' || v[2] == '/'))
}
