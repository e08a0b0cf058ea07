package manifest

import (
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/facts"
)

// template is a deployment template as the IoT Edge tooling writes one:
// variables, an image placeholder, createOptions as an object and as a string.
const template = `{
  "$schema-template": "4.0.0",
  "modulesContent": {
    "$edgeAgent": {
      "properties.desired": {
        "schemaVersion": "1.1",
        "runtime": {
          "type": "docker",
          "settings": {
            "registryCredentials": {
              "acr": {
                "username": "$CONTAINER_REGISTRY_USERNAME",
                "password": "$CONTAINER_REGISTRY_PASSWORD",
                "address": "$CONTAINER_REGISTRY_ADDRESS"
              }
            }
          }
        },
        "systemModules": {
          "edgeAgent": {
            "type": "docker",
            "settings": {
              "image": "mcr.microsoft.com/azureiotedge-agent:${EDGE_VERSION}",
              "createOptions": {}
            }
          },
          "edgeHub": {
            "type": "docker",
            "settings": {
              "image": "mcr.microsoft.com/azureiotedge-hub:${EDGE_VERSION}",
              "createOptions": {
                "HostConfig": {
                  "PortBindings": {"8883/tcp": [{"HostPort": "8883"}], "443/tcp": [{"HostIp": "127.0.0.1", "HostPort": "443"}]},
                  "Binds": ["/srv/hub:/tmp/edgeHub", "hubcache:/cache:ro", "C:\\data:C:\\app"],
                  "LogConfig": {"Type": "json-file", "Config": {"max-size": "10m", "max-file": 3}}
                }
              }
            },
            "env": {
              "UpstreamProtocol": {"value": "$UPSTREAM"},
              "OptimizeForPerformance": {"value": false}
            }
          }
        },
        "modules": {
          "filter": {
            "version": "1.0",
            "type": "docker",
            "status": "running",
            "startupOrder": 1,
            "settings": {
              "image": "${MODULES.filter}",
              "createOptions": "{\"Env\":[\"LEVEL=debug\",\"MODE=a=b\"],\"Labels\":{\"team\":\"x\"},\"HostConfig\":{\"NetworkMode\":\"host\",\"Privileged\":true,\"Mounts\":[{\"Type\":\"volume\",\"Source\":\"data\",\"Target\":\"/data\",\"ReadOnly\":true}],\"Memory\":\"134217728\",\"NanoCpus\":250000000}}"
            },
            "env": {
              "LEVEL": {"value": "info"}
            }
          }
        }
      }
    },
    "$edgeHub": {
      "properties.desired": {
        "schemaVersion": "1.2",
        "routes": {
          "filterToCloud": "FROM /messages/modules/filter/outputs/* INTO $upstream",
          "prioritized": {
            "route": "FROM /messages/* INTO $upstream",
            "priority": 1
          }
        }
      }
    },
    "filter": {
      "properties.desired": {
        "settings": {"token": "$FILTER_TOKEN"}
      }
    }
  }
}
`

func moduleNamed(t *testing.T, m *Manifest, name string) *Module {
	t.Helper()
	for _, mod := range m.Modules {
		if mod.Name == name {
			return mod
		}
	}
	t.Fatalf("no module %s", name)
	return nil
}

func TestTemplate(t *testing.T) {
	m, err := Parse([]byte(template), "deployment.template.json", Options{Vars: Vars{"EDGE_VERSION": "1.5.21", "UPSTREAM": "AmqpWs",
		"CONTAINER_REGISTRY_PASSWORD": "s3cret"}})
	if err != nil {
		t.Fatal(err)
	}
	if !m.Template || m.Layered {
		t.Errorf("template %v layered %v", m.Template, m.Layered)
	}
	var names []string
	for _, mod := range m.Modules {
		names = append(names, mod.Name)
	}
	if strings.Join(names, " ") != "edgeAgent edgeHub filter" {
		t.Errorf("modules %v", names)
	}
	// Lines of module and route keys, for SARIF locations.
	lines := map[string]int{}
	for _, mod := range m.Modules {
		lines[mod.Name] = mod.Line
	}
	for _, r := range m.Routes {
		lines["route "+r.Name] = r.Line
	}
	want := map[string]int{"edgeAgent": 20, "edgeHub": 27, "filter": 46, "route filterToCloud": 66, "route prioritized": 67}
	if !reflect.DeepEqual(lines, want) {
		t.Errorf("lines %v, want %v", lines, want)
	}
	if m.AgentSchema.Text != "1.1" || m.AgentSchema.Line != 6 || m.HubSchema.Text != "1.2" {
		t.Errorf("schemas %+v %+v", m.AgentSchema, m.HubSchema)
	}
	if r := m.Routes[1]; !r.Object || r.Text != "FROM /messages/* INTO $upstream" {
		t.Errorf("route as an object: %+v", r)
	}
	hub := moduleNamed(t, m, "edgeHub")
	if hub.Image.Text != "mcr.microsoft.com/azureiotedge-hub:1.5.21" || hub.Image.Raw != "mcr.microsoft.com/azureiotedge-hub:${EDGE_VERSION}" {
		t.Errorf("image %+v", hub.Image)
	}
	if c := hub.CreateOptions; len(c) != 1 || c[0].Kind != "object" || !strings.HasPrefix(c[0].Text, `{"HostConfig":{"PortBindings"`) {
		t.Errorf("createOptions as an object: %+v", c)
	}
	// The registry password as written: a placeholder, not the value it resolves to.
	var sites []string
	for _, s := range m.Secrets {
		sites = append(sites, s.Module+"|"+s.Place+"|"+s.Raw)
	}
	wantSites := []string{"|registryCredentials.acr.password|$CONTAINER_REGISTRY_PASSWORD", "edgeHub|env.UpstreamProtocol|$UPSTREAM",
		"edgeHub|env.OptimizeForPerformance|false", "filter|env.LEVEL|info", "filter|createOptions Env LEVEL|debug",
		"filter|createOptions Env MODE|a=b", "filter|properties.desired.settings.token|$FILTER_TOKEN"}
	if !reflect.DeepEqual(sites, wantSites) {
		t.Errorf("secret sites\n%q\nwant\n%q", sites, wantSites)
	}
}

func TestTemplateContainers(t *testing.T) {
	m, err := Parse([]byte(template), "deployment.template.json", Options{Vars: Vars{"EDGE_VERSION": "1.5.21"}})
	if err != nil {
		t.Fatal(err)
	}
	s := Snapshot(m, time.Unix(0, 0))
	hub, filter := s.Module("edgeHub"), s.Module("filter")
	if hub == nil || filter == nil {
		t.Fatalf("modules %+v", s.Containers)
	}
	if !hub.IsSystemModule() || hub.OriginalImage() != "mcr.microsoft.com/azureiotedge-hub:1.5.21" {
		t.Errorf("edgeHub %+v", hub)
	}
	wantMounts := []facts.Mount{{Type: "bind", Source: "/srv/hub", Destination: "/tmp/edgeHub", RW: true},
		{Type: "volume", Name: "hubcache", Source: "hubcache", Destination: "/cache"},
		{Type: "bind", Source: `C:\data`, Destination: `C:\app`, RW: true}}
	if !reflect.DeepEqual(hub.Mounts, wantMounts) {
		t.Errorf("mounts %+v", hub.Mounts)
	}
	wantPorts := []facts.PortBinding{{ContainerPort: "443/tcp", HostIP: "127.0.0.1", HostPort: "443"}, {ContainerPort: "8883/tcp", HostPort: "8883"}}
	if !reflect.DeepEqual(hub.Ports, wantPorts) {
		t.Errorf("ports %+v", hub.Ports)
	}
	if hub.LogConfig.Type != "json-file" || hub.LogConfig.Config["max-file"] != "3" || hub.NetworkMode != facts.EdgeNetwork {
		t.Errorf("log %+v network %s", hub.LogConfig, hub.NetworkMode)
	}
	if got := hub.Unresolved; !reflect.DeepEqual(got, []facts.Unresolved{{Setting: facts.SettingEnv, Field: "env.UpstreamProtocol", Var: "$UPSTREAM"}}) {
		t.Errorf("edgeHub unresolved %+v", got)
	}
	// createOptions' Env, then the module's env on top; a number written as a string.
	if filter.Env["LEVEL"] != "info" || filter.Env["MODE"] != "a=b" || filter.Memory != 134217728 || filter.NanoCPUs != 250000000 ||
		!filter.Privileged || filter.NetworkMode != "host" || filter.Labels["team"] != "x" || !filter.IsModule() {
		t.Errorf("filter %+v", filter)
	}
	if want := []facts.Mount{{Type: "volume", Name: "data", Source: "data", Destination: "/data"}}; !reflect.DeepEqual(filter.Mounts, want) {
		t.Errorf("filter mounts %+v", filter.Mounts)
	}
	if got := filter.Unresolved; len(got) != 1 || got[0].Var != "${MODULES.filter}" || got[0].Setting != facts.SettingImage {
		t.Errorf("filter unresolved %+v", got)
	}
	st := s.Fact(facts.FactEngine)
	if st.Status != facts.StatusNotApplicable || st.Reason != NeedsDevice {
		t.Errorf("engine fact %+v", st)
	}
	if st := s.Fact(facts.FactManifest); st.Status != facts.StatusOK {
		t.Errorf("manifest fact %+v", st)
	}
}

// TestShapes: the shapes people have, each read to the same modules and routes.
func TestShapes(t *testing.T) {
	const deployment = `{"modulesContent":{"$edgeAgent":{"properties.desired":{"schemaVersion":"1.0","systemModules":{
		"edgeAgent":{"settings":{"image":"a:1.5.21"}},"edgeHub":{"settings":{"image":"h:1.5.21"}}},
		"modules":{"m":{"settings":{"image":"m:1","createOptions":"{}"}}}}},
		"$edgeHub":{"properties.desired":{"schemaVersion":"1.0","routes":{"r":"FROM /* INTO $upstream"}}}}}`
	inner := strings.TrimSuffix(strings.TrimPrefix(deployment, `{"modulesContent":`), "}")
	for name, text := range map[string]string{
		"generated":              deployment,
		"byte-order mark":        "\ufeff" + deployment,
		"az deployment export":   `{"id":"d1","priority":10,"targetCondition":"tags.x='y'","content":{"modulesContent":` + inner + `},"metrics":{}}`,
		"legacy moduleContent":   `{"moduleContent":` + inner + `}`,
		"legacy, in content":     `{"content":{"moduleContent":` + inner + `}}`,
		"properties and desired": strings.ReplaceAll(deployment, `"properties.desired":`, `"properties":{"desired":`) + "",
	} {
		t.Run(name, func(t *testing.T) {
			if name == "properties and desired" {
				// Close the extra objects the replacement opened.
				text = `{"modulesContent":{"$edgeAgent":{"properties":{"desired":{"schemaVersion":"1.0","systemModules":{
					"edgeAgent":{"settings":{"image":"a:1.5.21"}},"edgeHub":{"settings":{"image":"h:1.5.21"}}},
					"modules":{"m":{"settings":{"image":"m:1","createOptions":"{}"}}}}}},
					"$edgeHub":{"properties":{"desired":{"schemaVersion":"1.0","routes":{"r":"FROM /* INTO $upstream"}}}}}}`
			}
			m, err := Parse([]byte(text), "d.json", Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Modules) != 3 || m.Modules[2].Name != "m" || len(m.Routes) != 1 || m.AgentSchema.Text != "1.0" || m.Layered {
				t.Errorf("read %d modules, %d routes, schema %+v, layered %v", len(m.Modules), len(m.Routes), m.AgentSchema, m.Layered)
			}
		})
	}
}

func TestLayered(t *testing.T) {
	const layer = `{
  "content": {
    "modulesContent": {
      "$edgeAgent": {
        "properties.desired.modules.collector": {
          "settings": {"image": "mcr.microsoft.com/azureiotedge-metrics-collector:1.1"},
          "type": "docker",
          "env": {"UploadTarget": {"value": "AzureMonitor"}}
        },
        "properties.desired.modules.shipper": {
          "settings": {"image": "contoso/shipper:2.0"}
        }
      },
      "$edgeHub": {
        "properties.desired.routes.collectorToCloud": "FROM /messages/modules/collector/* INTO $upstream"
      },
      "collector": {
        "properties.desired": {"scrape": {"interval": 60}},
        "properties.desired.secretThing": "abc"
      }
    }
  }
}`
	m, err := Parse([]byte(layer), "layer.json", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !m.Layered || len(m.Modules) != 2 || m.Modules[0].Name != "collector" || m.Modules[0].Line != 5 || m.Modules[1].Line != 10 {
		t.Errorf("layered %v modules %+v", m.Layered, m.Modules)
	}
	if len(m.Routes) != 1 || m.Routes[0].Name != "collectorToCloud" || m.Routes[0].Line != 15 {
		t.Errorf("routes %+v", m.Routes)
	}
	if m.AgentSchema != nil || m.HubSchema != nil {
		t.Errorf("a layer has no schema: %+v %+v", m.AgentSchema, m.HubSchema)
	}
	last := m.Secrets[len(m.Secrets)-1]
	if last.Place != "properties.desired.secretThing" || last.Line != 19 {
		t.Errorf("twin property %+v", last)
	}
}

// TestSplitCreateOptions: createOptions01… are joined in order, as edgeAgent does.
func TestSplitCreateOptions(t *testing.T) {
	const text = `{"modulesContent":{"$edgeAgent":{"properties.desired":{"schemaVersion":"1.1","modules":{"m":{"settings":{
		"image":"m:1","createOptions02":"\":268435456}}","createOptions":"{\"HostConfig\":","createOptions01":"{\"Memory"}}}}}}}`
	m, err := Parse([]byte(text), "d.json", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Modules[0].JoinedCreateOptions(); got != `{"HostConfig":{"Memory":268435456}}` {
		t.Errorf("joined %q", got)
	}
	if c := m.Modules[0].Container(); c.Memory != 268435456 || c.InspectError != "" {
		t.Errorf("container %+v", c)
	}
}

// TestVariableInNumberPosition: a template holding a variable where JSON
// wants a number is read as the tooling reads it, the text expanded first.
func TestVariableInNumberPosition(t *testing.T) {
	const text = `{"modulesContent":{"$edgeAgent":{"properties.desired":{"schemaVersion":"1.1","modules":{"m":{"settings":{
		"image":"m:1","createOptions":{"HostConfig":{"Memory":$MEMORY}}}}}}}}}`
	if _, err := Parse([]byte(text), "d.json", Options{}); err == nil || !strings.Contains(err.Error(), "not JSON: line 2") {
		t.Errorf("unresolved: %v", err)
	}
	m, err := Parse([]byte(text), "d.json", Options{Vars: Vars{"MEMORY": "1024"}})
	if err != nil {
		t.Fatal(err)
	}
	if c := m.Modules[0].Container(); c.Memory != 1024 {
		t.Errorf("memory %d", c.Memory)
	}
}

func TestExpand(t *testing.T) {
	v := Vars{"A": "1", "B_2": "two", "MODULES.x": "never from the environment? yes, if set", "E": ""}
	for in, want := range map[string]string{
		"$A-${B_2}": "1-two",
		"$A$A":      "11",
		"${A}x $Ax": "1x $Ax",
		"$E|${E}":   "|",
		"${MISSING} $upstream $edgeAgent ${edgeHub}": "${MISSING} $upstream $edgeAgent ${edgeHub}",
		"price: 5$":    "price: 5$",
		"${unclosed":   "${unclosed",
		"${MODULES.x}": "never from the environment? yes, if set",
		"${}":          "${}",
	} {
		if got, _ := v.expand(in); got != want {
			t.Errorf("expand(%q) = %q, want %q", in, got, want)
		}
	}
	if _, left := v.expand("$A ${NOPE} $NOPE2 $upstream"); !reflect.DeepEqual(left, []string{"${NOPE}", "$NOPE2"}) {
		t.Errorf("left %q", left)
	}
}

func TestParseDotenv(t *testing.T) {
	const env = "\ufeff# registry\n" +
		"CONTAINER_REGISTRY_ADDRESS=contoso.azurecr.io\n" +
		"export CONTAINER_REGISTRY_USERNAME = contoso \n" +
		"CONTAINER_REGISTRY_PASSWORD='p@ss#word $NOT'\n" +
		"QUOTED=\"line one\\nline two\"\n" +
		"MULTI=\"first\nsecond\"\n" +
		"COMMENTED=value # a comment\n" +
		"HASH=value#not-a-comment\n" +
		"REF=${CONTAINER_REGISTRY_ADDRESS}/edge\n" +
		"DEFAULTED=${UNSET:-fallback}\n" +
		"FROM_ENV=${HOME_DIR}\n" +
		"EMPTY=\n" +
		"NOVALUE\n" +
		"\r\n"
	got, err := ParseDotenv([]byte(env), Vars{"HOME_DIR": "/home/x"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"CONTAINER_REGISTRY_ADDRESS": "contoso.azurecr.io", "CONTAINER_REGISTRY_USERNAME": "contoso",
		"CONTAINER_REGISTRY_PASSWORD": "p@ss#word $NOT", "QUOTED": "line one\nline two", "MULTI": "first\nsecond",
		"COMMENTED": "value", "HASH": "value#not-a-comment", "REF": "contoso.azurecr.io/edge", "DEFAULTED": "fallback",
		"FROM_ENV": "/home/x", "EMPTY": "",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
	for _, bad := range []string{"A=\"open\n", "A='x' y\n", "BAD KEY=1\n"} {
		if _, err := ParseDotenv([]byte(bad), nil); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("%q: error %v, want one naming line 1", bad, err)
		}
	}
}

// TestLoadVars: the environment wins over the file, as with iotedgedev.
func TestLoadVars(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, ".env")
	if err := os.WriteFile(f, []byte("A=file\nB=file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	v, err := LoadVars(f, []string{"A=environment", "PATH=/bin"})
	if err != nil {
		t.Fatal(err)
	}
	if v["A"] != "environment" || v["B"] != "file" || v["PATH"] != "/bin" {
		t.Errorf("vars %v", v)
	}
	if _, err := LoadVars(filepath.Join(dir, "missing"), nil); err == nil || !strings.Contains(err.Error(), "reading the env file") {
		t.Errorf("missing file: %v", err)
	}
}

// TestImagePlaceholders: ${MODULES.x} from --modules-dir, ${MODULEDIR<...>}
// beside the manifest, per platform, as the tooling tags them.
func TestImagePlaceholders(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, text string) {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("modules/filter/module.json", `{"$schema-version":"0.0.1","image":{"repository":"$CONTAINER_REGISTRY_ADDRESS/Filter",
		"tag":{"version":"0.1.2","platforms":{"amd64":"./Dockerfile","amd64.debug":"./Dockerfile.debug","arm32v7":"./Dockerfile.arm"}}}}`)
	write("module.json", `{"image":{"repository":"contoso/self","tag":{"platforms":{"amd64":"Dockerfile"}}}}`)
	r := imageResolver{vars: Vars{"CONTAINER_REGISTRY_ADDRESS": "contoso.azurecr.io"}, modulesDir: filepath.Join(dir, "modules"),
		baseDir: filepath.Join(dir, "deployment")}
	for in, want := range map[string]string{
		"${MODULES.filter}":         "contoso.azurecr.io/filter:0.1.2-amd64",
		"${MODULES.filter.debug}":   "contoso.azurecr.io/filter:0.1.2-amd64.debug",
		"${MODULES.filter.arm32v7}": "contoso.azurecr.io/filter:0.1.2-arm32v7",
		"${MODULES.filter.arm64v8}": "${MODULES.filter.arm64v8}", // no such platform
		"${MODULES.other}":          "${MODULES.other}",
		"${MODULEDIR<..>}":          "contoso/self:0.0.0-amd64",
		"plain:1.0":                 "plain:1.0",
	} {
		if got, _ := r.resolve(in); got != want {
			t.Errorf("resolve(%q) = %q, want %q", in, got, want)
		}
	}
	r.platform = "arm32v7"
	r.vars["CONTAINER_TAG"] = "rc1"
	if got, _ := r.resolve("${MODULES.filter}"); got != "contoso.azurecr.io/filter:0.1.2-rc1-arm32v7" {
		t.Errorf("platform and CONTAINER_TAG: %q", got)
	}
	r.modulesDir = ""
	if got, why := r.resolve("${MODULES.filter}"); got != "${MODULES.filter}" || !strings.Contains(why, "--modules-dir") {
		t.Errorf("without --modules-dir: %q, %q", got, why)
	}
}

// TestBadManifests: a manifest that cannot be read is refused with an error
// naming the place.
func TestBadManifests(t *testing.T) {
	for text, want := range map[string]string{
		``:                                      "not JSON: line 1, column 1: the file ends inside a JSON value",
		`{"a":`:                                 "not JSON: line 1, column 6: the file ends inside a JSON value",
		"{\n\"a\" 1}":                           "not JSON: line 2, column 5: invalid character '1' after object key",
		`{} {}`:                                 "not JSON: line 1, column 4: text after the JSON document",
		`[1]`:                                   "the document is an array, not a JSON object",
		"\xff\xfe{}":                            "the file is UTF-16: save it as UTF-8",
		`{"a":1}`:                               `no "modulesContent" (nor "content.modulesContent", nor the legacy "moduleContent"): not a deployment manifest`,
		`{"content":1}`:                         "content (line 1): want an object, found a number",
		`{"modulesContent":[]}`:                 "modulesContent (line 1): want an object, found an array",
		`{"modulesContent":{}}`:                 "modulesContent: neither $edgeAgent nor $edgeHub: not a deployment manifest",
		`{"modulesContent":{"$edgeAgent":"x"}}`: "modulesContent.$edgeAgent (line 1): want an object, found a string",
		`{"modulesContent":{"$edgeAgent":{"properties.desired":[]}}}`:                                                                     "modulesContent.$edgeAgent.properties.desired (line 1): want an object, found an array",
		`{"modulesContent":{"$edgeAgent":{"properties.desired":{"modules":5}}}}`:                                                          "modulesContent.$edgeAgent.properties.desired.modules (line 1): want an object, found a number",
		`{"modulesContent":{"$edgeAgent":{"properties.desired":{"modules":{"m":{"settings":"x"}}}}}}`:                                     "modulesContent.$edgeAgent.properties.desired.modules.m.settings (line 1): want an object, found a string",
		`{"modulesContent":{"$edgeAgent":{"properties.desired":{"modules":{"m":{"settings":{"image":{}}}}}}}}`:                            "modulesContent.$edgeAgent.properties.desired.modules.m.settings.image (line 1): want a string, found an object",
		`{"modulesContent":{"$edgeAgent":{"properties.desired":{"schemaVersion":[]}}}}`:                                                   "modulesContent.$edgeAgent.properties.desired.schemaVersion (line 1): want a string, found an array",
		`{"modulesContent":{"$edgeHub":{"properties.desired":{"routes":{"r":5}}}}}`:                                                       `modulesContent.$edgeHub.properties.desired.routes.r (line 1): want a string or an object such as {"route": "FROM ... INTO ..."}, found a number`,
		`{"modulesContent":{"$edgeHub":{"properties.desired":{"routes":{"r":{"priority":1}}}}}}`:                                          `modulesContent.$edgeHub.properties.desired.routes.r (line 1): the route object has no "route"`,
		`{"modulesContent":{"$edgeAgent":{"properties.desired":{"runtime":{"settings":{"registryCredentials":{"a":{"password":{}}}}}}}}}`: "registryCredentials.a.password (line 1): want a string, found an object",
		strings.Repeat("[", 300) + strings.Repeat("]", 300):                                                                               "nested deeper than 200 levels",
	} {
		_, err := Parse([]byte(text), "bad.json", Options{})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%.60q: error %v, want one holding %q", text, err, want)
		}
	}
	if _, err := Load(filepath.Join(t.TempDir(), "none.json"), Options{}); err == nil || !strings.Contains(err.Error(), "reading the manifest") {
		t.Errorf("missing file: %v", err)
	}
}

// TestMalformedEnvEntries: an env entry that is not {"value": ...} is
// recorded with its line and the module is read on (it used to refuse the
// whole manifest).
func TestMalformedEnvEntries(t *testing.T) {
	text := `{"modulesContent":{"$edgeAgent":{"properties.desired":{"modules":{"m":{
"env":{
 "A":{"value":"1"},
 "_comment":"a note",
 "N":5,
 "O":{"value":{"x":1}},
 "B":{"value":"2"}},
"settings":{"image":"contoso.azurecr.io/m:1.0"}}}}}}}`
	m, err := Parse([]byte(text), "env.json", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Modules) != 1 {
		t.Fatalf("%d modules, want 1", len(m.Modules))
	}
	mod := m.Modules[0]
	var names []string
	for _, e := range mod.Env {
		names = append(names, e.Name+"="+e.Text)
	}
	if got := strings.Join(names, " "); got != "A=1 B=2" {
		t.Errorf("env %q, want A=1 B=2", got)
	}
	want := []facts.BadEnvEntry{{Name: "_comment", Line: 4, Found: "a string"}, {Name: "N", Line: 5, Found: "a number"},
		{Name: "O", Line: 6, Found: "an object whose value is an object"}}
	if !reflect.DeepEqual(mod.BadEnv, want) {
		t.Errorf("bad env %+v, want %+v", mod.BadEnv, want)
	}
	if mod.Image.Text != "contoso.azurecr.io/m:1.0" {
		t.Errorf("image %q: the module was not read on", mod.Image.Text)
	}
	if d := m.Deployment(); len(d.Modules) != 1 || len(d.Modules[0].BadEnv) != 3 {
		t.Errorf("the deployment facts lose the bad entries: %+v", d.Modules)
	}
}

// TestShippedManifests: the repository's own deployment files read cleanly.
func TestShippedManifests(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "deployment", "*.json"))
	if len(files) == 0 {
		t.Fatal("no deployment/*.json")
	}
	for _, f := range files {
		if b, _ := os.ReadFile(f); !strings.Contains(string(b), "modulesContent") {
			continue // the layered deployment's metrics queries
		}
		m, err := Load(f, Options{Vars: Vars{"CONTAINER_REGISTRY_ADDRESS": "contoso.azurecr.io"}})
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if len(m.Modules) == 0 {
			t.Errorf("%s: no modules", f)
		}
	}
}

// TestUnresolvedPaths: a variable in createOptions is placed at the JSON
// path that holds it; where createOptions do not parse, or the variable is
// a top-level key, its place is unknown ("").
func TestUnresolvedPaths(t *testing.T) {
	for _, c := range []struct{ opts, want string }{
		{`{"HostConfig":{"Binds":["${PATH_PREFIX}/d:/d","$B:/e"]},"Env":["A=${PATH_PREFIX}"]}`,
			"${PATH_PREFIX}@Env ${PATH_PREFIX}@HostConfig.Binds $B@HostConfig.Binds"},
		{`{"HostConfig":{"${K}":true}}`, "${K}@HostConfig"},
		{`{"${K}":{}}`, "${K}@"},
		{`{"HostConfig":{"Memory":"${MEM}"}}`, "${MEM}@HostConfig.Memory"}, // read as edgeAgent reads "1024"
		{`{"HostConfig":{"Memory":${MEM}}}`, "${MEM}@"},                    // does not parse as written
	} {
		text := `{"modulesContent":{"$edgeAgent":{"properties.desired":{"schemaVersion":"1.1","modules":{"m":{"settings":{
			"image":"m:1","createOptions":` + strconv.Quote(c.opts) + `}}}}}}}`
		m, err := Parse([]byte(text), "d.json", Options{})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, u := range m.Modules[0].Container().Unresolved {
			got = append(got, u.Var+"@"+u.Path)
		}
		if strings.Join(got, " ") != c.want {
			t.Errorf("%s: %q, want %q", c.opts, got, c.want)
		}
	}
}
