package checks_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/facts"
	"github.com/edge-readiness/edge-readiness/internal/manifest"
)

// doc is a deployment manifest built in a test.
type doc = map[string]any

// goodManifest is a deployment every manifest check passes: schema 1.1,
// createOptions the engine reads whole, routes between deployed modules,
// placeholders where secrets go.
func goodManifest() doc {
	hostConfig := func(extra doc) string {
		hc := doc{"Memory": 268435456, "NanoCpus": 500000000,
			"LogConfig": doc{"Type": "json-file", "Config": doc{"max-size": "10m", "max-file": "3"}}}
		for k, v := range extra {
			hc[k] = v
		}
		b, _ := json.Marshal(doc{"HostConfig": hc})
		return string(b)
	}
	module := func(image, create string, env doc) doc {
		m := doc{"type": "docker", "status": "running", "restartPolicy": "always",
			"settings": doc{"image": image, "createOptions": create}}
		if env != nil {
			m["env"] = env
		}
		return m
	}
	value := func(v string) doc { return doc{"value": v} }
	return doc{"modulesContent": doc{
		"$edgeAgent": doc{"properties.desired": doc{
			"schemaVersion": "1.1",
			"runtime": doc{"type": "docker", "settings": doc{"registryCredentials": doc{
				"acr": doc{"username": "$REGISTRY_USER", "password": "$REGISTRY_PASSWORD", "address": "contoso.azurecr.io"}}}},
			"systemModules": doc{
				"edgeAgent": module("mcr.microsoft.com/azureiotedge-agent:1.5.21", hostConfig(doc{"Binds": []string{"/srv/agent:/tmp/edgeAgent"}}),
					doc{"UpstreamProtocol": value("Amqp"), "ModuleUpdateMode": value("WaitForAllPulls")}),
				"edgeHub": module("mcr.microsoft.com/azureiotedge-hub:1.5.21", hostConfig(doc{"Binds": []string{"/srv/hub:/tmp/edgeHub"},
					"PortBindings": doc{"8883/tcp": []doc{{"HostPort": "8883"}}}}), doc{"UpstreamProtocol": value("Amqp")}),
			},
			"modules": doc{
				"sensor": module("contoso.azurecr.io/sensor:2.1.0", hostConfig(nil), doc{"IOTHUB_CONNECTION": value("$SENSOR_CONNECTION")}),
				"filter": module("contoso.azurecr.io/filter:2.3.1", hostConfig(nil), doc{"Threshold": value("25")}),
			},
		}},
		"$edgeHub": doc{"properties.desired": doc{
			"schemaVersion": "1.1",
			"routes": doc{
				"sensorToFilter": doc{"route": `FROM /messages/modules/sensor/outputs/temperature INTO BrokeredEndpoint("/modules/filter/inputs/input1")`, "priority": 0},
				"filterToCloud":  "FROM /messages/modules/filter/outputs/* INTO $upstream",
			},
		}},
		"filter": doc{"properties.desired": doc{"threshold": 25, "endpoint": "https://contoso.example/api"}},
	}}
}

// agentDesired and friends reach into a manifest document.
func agentDesired(d doc) doc {
	return d["modulesContent"].(doc)["$edgeAgent"].(doc)["properties.desired"].(doc)
}
func hubDesired(d doc) doc {
	return d["modulesContent"].(doc)["$edgeHub"].(doc)["properties.desired"].(doc)
}
func moduleOf(d doc, name string) doc {
	if m, ok := agentDesired(d)["modules"].(doc)[name]; ok {
		return m.(doc)
	}
	return agentDesired(d)["systemModules"].(doc)[name].(doc)
}
func settingsOf(d doc, name string) doc { return moduleOf(d, name)["settings"].(doc) }

// manifestSnapshot reads a manifest document as check --manifest does.
func manifestSnapshot(tb testing.TB, d doc, opts manifest.Options) *facts.Snapshot {
	tb.Helper()
	b, err := json.Marshal(d)
	if err != nil {
		tb.Fatal(err)
	}
	m, err := manifest.Parse(b, "deployment.json", opts)
	if err != nil {
		tb.Fatalf("manifest: %v", err)
	}
	return manifest.Snapshot(m, snapTime)
}

// manifestCase mutates the good manifest and lists the findings expected of
// one check; every other finding of the check must pass.
type manifestCase struct {
	name   string
	mutate func(doc)
	vars   manifest.Vars
	want   []want
}

func runManifestCases(t *testing.T, id string, cases []manifestCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := goodManifest()
			if tc.mutate != nil {
				tc.mutate(d)
			}
			s := manifestSnapshot(t, d, manifest.Options{Vars: tc.vars})
			got := byID(runAll(s, decodePolicy(t, "")), id)
			if len(got) == 0 {
				t.Fatalf("no %s finding at all", id)
			}
			expectFindings(t, got, tc.want)
		})
	}
}

func TestManifestChecksSkipOnADevice(t *testing.T) {
	for _, id := range []string{"schema-version-supported", "create-options-valid", "routes-valid", "manifest-secrets"} {
		got := byID(runAll(goodDevice(t), decodePolicy(t, "")), id)
		expectFindings(t, got, []want{{status: checks.Skip, msg: facts.NotOnDevice}})
	}
}

func TestSchemaVersionSupported(t *testing.T) {
	agentSchema := func(v any) func(doc) { return func(d doc) { agentDesired(d)["schemaVersion"] = v } }
	hubSchema := func(v any) func(doc) { return func(d doc) { hubDesired(d)["schemaVersion"] = v } }
	runManifestCases(t, "schema-version-supported", []manifestCase{
		{name: "1.1 and 1.1", want: []want{
			{subject: "$edgeAgent", status: checks.Pass, msg: "$edgeAgent's schemaVersion 1.1 is one edgeAgent accepts"},
			{subject: "$edgeHub", status: checks.Pass, msg: "$edgeHub's schemaVersion 1.1 is one edgeHub accepts"}}},
		{name: "edgeHub 1.3 and three parts", mutate: func(d doc) { hubDesired(d)["schemaVersion"] = "1.3"; agentDesired(d)["schemaVersion"] = "1.1.0" },
			want: []want{{subject: "$edgeHub", status: checks.Pass, msg: "1.3"}, {subject: "$edgeAgent", status: checks.Pass, msg: "1.1.0"}}},
		{name: "edgeAgent 1.2", mutate: agentSchema("1.2"),
			want: []want{{subject: "$edgeAgent", status: checks.Fail, msg: `$edgeAgent's schemaVersion "1.2" (line 1) is not 1.0 or 1.1`}}},
		{name: "edgeAgent 2.0", mutate: agentSchema("2.0"), want: []want{{subject: "$edgeAgent", status: checks.Fail, msg: "refuses the deployment"}}},
		{name: "edgeAgent without a minor", mutate: agentSchema("1"), want: []want{{subject: "$edgeAgent", status: checks.Fail, msg: `"1"`}}},
		{name: "edgeHub 1.4", mutate: hubSchema("1.4"),
			want: []want{{subject: "$edgeHub", status: checks.Fail, msg: `$edgeHub's schemaVersion "1.4" (line 1) is not 1.0 to 1.3`}}},
		{name: "edgeAgent 1.0 with a startupOrder", mutate: func(d doc) {
			agentDesired(d)["schemaVersion"] = "1.0"
			moduleOf(d, "filter")["startupOrder"] = 2
		}, want: []want{{subject: "$edgeAgent", status: checks.Fail, msg: "schemaVersion is 1.0 but filter sets startupOrder, which only 1.1 supports"}}},
		{name: "edgeAgent 1.0 without one", mutate: agentSchema("1.0"), want: []want{{subject: "$edgeAgent", status: checks.Pass, msg: "1.0"}}},
		{name: "edgeHub 1.0 with a route as an object", mutate: hubSchema("1.0"),
			want: []want{{subject: "$edgeHub", status: checks.Fail, msg: "1.0, which takes routes only as strings, but 1 route sensorToFilter"}}},
		{name: "no schemaVersion", mutate: func(d doc) { delete(agentDesired(d), "schemaVersion") },
			want: []want{{subject: "$edgeAgent", status: checks.Fail, msg: "$edgeAgent has no schemaVersion: edgeAgent refuses the deployment"}}},
		{name: "a variable", mutate: agentSchema("${EDGEAGENT_SCHEMA_VERSION}"),
			want: []want{{subject: "$edgeAgent", status: checks.Skip, msg: "the unresolved variable ${EDGEAGENT_SCHEMA_VERSION}"}}},
		{name: "the variable resolved", mutate: agentSchema("${EDGEAGENT_SCHEMA_VERSION}"), vars: manifest.Vars{"EDGEAGENT_SCHEMA_VERSION": "1.1"},
			want: []want{{subject: "$edgeAgent", status: checks.Pass, msg: "1.1"}}},
		{name: "a layered deployment has none", mutate: func(d doc) {
			mc := d["modulesContent"].(doc)
			mc["$edgeAgent"] = doc{"properties.desired.modules.filter": moduleOf(d, "filter")}
			mc["$edgeHub"] = doc{"properties.desired.routes.filterToCloud": "FROM /messages/modules/filter/outputs/* INTO $upstream"}
		}, want: []want{{subject: "$edgeAgent", status: checks.Skip, msg: "the base deployment's applies"},
			{subject: "$edgeHub", status: checks.Skip, msg: "the base deployment's applies"}}},
	})
}

// TestMalformedEnvEntry: an env entry edgeAgent cannot read (a comment
// written as a bare string, as in OPC Foundation's UA Edge Translator
// manifest) fails schema-version-supported for its module at its line,
// naming the variable and never its value; the other checks still decide.
func TestMalformedEnvEntry(t *testing.T) {
	const secret = "s3cr3t-do-not-print"
	runManifestCases(t, "schema-version-supported", []manifestCase{
		{name: "a bare string", mutate: func(d doc) { moduleOf(d, "filter")["env"].(doc)["_comment_MODE"] = secret },
			want: []want{{subject: "$edgeAgent", status: checks.Pass, msg: "1.1"}, {subject: "$edgeHub", status: checks.Pass, msg: "1.1"},
				{module: "filter", status: checks.Fail, msg: `filter's env entry _comment_MODE (line 1) is a string, not an object such as {"value": "..."}: ` +
					"edgeAgent cannot read the desired properties and would refuse this deployment"}}},
		{name: "two on edgeAgent", mutate: func(d doc) {
			env := moduleOf(d, "edgeAgent")["env"].(doc)
			env["RuntimeLogLevel"], env["X"] = "debug", doc{"value": []int{1}}
		}, want: []want{{subject: "$edgeAgent", status: checks.Pass, msg: "1.1"}, {subject: "$edgeHub", status: checks.Pass, msg: "1.1"},
			{module: "edgeAgent", status: checks.Fail, msg: "edgeAgent's env entries RuntimeLogLevel (line 1) is a string; X (line 1) is an object whose value is an array"}}},
	})
	d := goodManifest()
	moduleOf(d, "filter")["env"].(doc)["_comment_MODE"] = secret
	settingsOf(d, "sensor")["createOptions"] = `{"HostConfir":{}}`
	fs := runAll(manifestSnapshot(t, d, manifest.Options{}), decodePolicy(t, ""))
	for _, f := range fs {
		if strings.Contains(f.Message, secret) {
			t.Errorf("%s: the message holds the entry's value: %s", f.ID, f.Message)
		}
		if f.ID == "schema-version-supported" && f.Module == "filter" && (f.Location == nil || f.Location.Line != 1) {
			t.Errorf("the finding is at %+v, want line 1", f.Location)
		}
	}
	// The rest is linted: the sensor's typo is still found.
	expectFindings(t, byID(fs, "create-options-valid"), []want{{module: "sensor", status: checks.Fail, msg: "HostConfir"}})
}

func TestCreateOptionsValid(t *testing.T) {
	create := func(module, text string) func(doc) {
		return func(d doc) { settingsOf(d, module)["createOptions"] = text }
	}
	long := `{"Env":["A=` + strings.Repeat("x", 5000) + `"]}`
	runManifestCases(t, "create-options-valid", []manifestCase{
		{name: "good", want: []want{{module: "filter", status: checks.Pass, msg: "filter's createOptions are a valid container-create body"}}},
		{name: "a typo at the top", mutate: create("filter", `{"HostConfir":{"Memory":1}}`),
			want: []want{{module: "filter", status: checks.Fail, msg: "the engine ignores HostConfir: not a key of the container-create body in the Docker Engine API: the runtime drops it; did you mean HostConfig?"}}},
		{name: "limits outside HostConfig", mutate: create("filter", `{"Memory":268435456,"Binds":["/a:/b"]}`),
			want: []want{{module: "filter", status: checks.Fail, msg: "Memory belongs inside HostConfig"}}},
		{name: "a typo deeper", mutate: create("filter", `{"HostConfig":{"LogConfig":{"Typ":"local"}}}`),
			want: []want{{module: "filter", status: checks.Fail, msg: "HostConfig.LogConfig.Typ: not a key of HostConfig.LogConfig"}}},
		{name: "keys in any case, as the runtime reads them", mutate: create("filter", `{"hostconfig":{"memory":1,"nanocpus":1}}`),
			want: []want{{module: "filter", status: checks.Pass, msg: "valid"}}},
		{name: "not JSON", mutate: create("filter", `{"HostConfig":`),
			want: []want{{module: "filter", status: checks.Fail, msg: "createOptions is not valid JSON"}}},
		{name: "an array", mutate: create("filter", `[1,2]`),
			want: []want{{module: "filter", status: checks.Fail, msg: "createOptions is not a JSON object (it is an array)"}}},
		{name: "a number in a string is a number", mutate: create("filter", `{"HostConfig":{"Memory":"268435456"}}`),
			want: []want{{module: "filter", status: checks.Pass, msg: "valid"}}},
		{name: "a size is no number", mutate: create("filter", `{"HostConfig":{"Memory":"256m"}}`),
			want: []want{{module: "filter", status: checks.Fail, msg: "edgeAgent cannot read HostConfig.Memory: is a string that is not a number or a boolean, not a number"}}},
		{name: "split in order", mutate: func(d doc) {
			s := settingsOf(d, "filter")
			s["createOptions"], s["createOptions01"], s["createOptions02"] = `{"HostConfig":{"Mem`, `ory":268435456,"NanoCpus":`, `500000000}}`
		}, want: []want{{module: "filter", status: checks.Pass, msg: "valid"}}},
		{name: "a chunk missing", mutate: func(d doc) {
			s := settingsOf(d, "filter")
			s["createOptions"], s["createOptions01"], s["createOptions03"] = `{"HostConfig":{"Mem`, `ory":268435456,"NanoCpus":`, `500000000}}`
		}, want: []want{{module: "filter", status: checks.Fail, msg: "createOptions03 follows createOptions01: createOptions02 is missing from the sequence"}}},
		{name: "over 4 KB in one value", mutate: create("filter", long),
			want: []want{{module: "filter", status: checks.Fail, msg: "createOptions is 5014 bytes, over the 4096-byte limit of a twin value"}}},
		{name: "a template's object", mutate: func(d doc) {
			settingsOf(d, "filter")["createOptions"] = doc{"HostConfig": doc{"Memory": 1, "NanoCpus": 1}}
		}, want: []want{{module: "filter", status: checks.Pass, msg: "written as an object"}}},
		{name: "a template's object too long for the tooling", mutate: func(d doc) {
			settingsOf(d, "filter")["createOptions"] = doc{"Env": []string{"A=" + strings.Repeat("x", 4200)}}
		}, want: []want{{module: "filter", status: checks.Fail, msg: "at most 8 chunks of 512"}}},
		{name: "a number", mutate: func(d doc) { settingsOf(d, "filter")["createOptions"] = 5 },
			want: []want{{module: "filter", status: checks.Fail, msg: "createOptions is a number, not a string holding a JSON object"}}},
		{name: "a variable", mutate: create("filter", `{"HostConfig":{"Binds":["${DATA_DIR}:/data"]}}`),
			want: []want{{module: "filter", status: checks.Skip, msg: "its settings.createOptions at HostConfig.Binds holds ${DATA_DIR}, which is not resolved"}}},
	})
}

func TestRoutesValid(t *testing.T) {
	route := func(text string) func(doc) {
		return func(d doc) { hubDesired(d)["routes"] = doc{"r": text} }
	}
	pass := func(msg string) []want { return []want{{subject: "r", status: checks.Pass, msg: msg}} }
	fail := func(msg string) []want { return []want{{subject: "r", status: checks.Fail, msg: msg}} }
	runManifestCases(t, "routes-valid", []manifestCase{
		{name: "good", want: []want{{subject: "sensorToFilter", status: checks.Pass, msg: "route sensorToFilter takes"},
			{subject: "filterToCloud", status: checks.Pass, msg: "filterToCloud"}}},
		{name: "every message", mutate: route("FROM /* INTO $upstream"), want: pass("takes /*")},
		{name: "devices' messages, keywords in any case", mutate: route("select * from /messages/* where $connectionDeviceId = 'x' into $UPSTREAM"),
			want: pass("takes /messages/*")},
		{name: "a module's name in another case", mutate: route("FROM /messages/modules/Filter/outputs/out1 INTO $upstream"), want: pass("takes")},
		{name: "twin changes", mutate: route("FROM /twinChangeNotifications INTO $upstream"), want: pass("takes")},
		{name: "a module the deployment lacks", mutate: route("FROM /messages/modules/filtre/outputs/* INTO $upstream"),
			want: fail("route r (line 1): its source names module filtre, which the deployment does not have")},
		{name: "output for outputs", mutate: route("FROM /messages/modules/filter/output/out1 INTO $upstream"),
			want: fail("matches no message (a module's messages are /messages/modules/filter/outputs/<output>, not /output)")},
		{name: "a star inside the path", mutate: route("FROM /messages/modules/*/outputs/alerts INTO $upstream"),
			want: fail("a * inside the path is no wildcard")},
		{name: "events", mutate: route("FROM /messages/events INTO $upstream"), want: fail("matches no message")},
		{name: "a sink module the deployment lacks", mutate: route(`FROM /messages/* INTO BrokeredEndpoint("/modules/alerts/inputs/in")`),
			want: fail("its sink names module alerts, which the deployment does not have")},
		{name: "a sink's address without /inputs", mutate: route(`FROM /messages/* INTO BrokeredEndpoint("/modules/filter")`),
			want: fail(`its sink's address "/modules/filter" is not /modules/<module>/inputs/<input>`)},
		{name: "a sink function edgeHub lacks", mutate: route(`FROM /messages/* INTO Endpoint("/modules/filter/inputs/in")`),
			want: fail("its sink calls Endpoint, which edgeHub does not know")},
		{name: "a system endpoint edgeHub lacks", mutate: route("FROM /messages/* INTO $cloud"), want: fail("is not a system endpoint edgeHub knows")},
		{name: "no route at all", mutate: route("FROM device messages INTO $upstream"),
			want: fail("does not parse as FROM <source> [WHERE <condition>] INTO <sink>")},
		{name: "a variable", mutate: route("FROM /messages/modules/${MODULE}/outputs/* INTO $upstream"),
			want: []want{{subject: "r", status: checks.Skip, msg: "holds the unresolved variable ${MODULE}"}}},
		{name: "no routes", mutate: func(d doc) { hubDesired(d)["routes"] = doc{} },
			want: []want{{status: checks.Skip, msg: "the deployment declares no routes"}}},
		{name: "a layer's route to a module of the base", mutate: func(d doc) {
			mc := d["modulesContent"].(doc)
			mc["$edgeAgent"] = doc{"properties.desired.modules.filter": moduleOf(d, "filter")}
			mc["$edgeHub"] = doc{"properties.desired.routes.r": `FROM /messages/modules/filter/outputs/* INTO BrokeredEndpoint("/modules/store/inputs/in")`}
		}, want: []want{{subject: "r", status: checks.Skip, msg: "names module store, which is not in this layer"}}},
	})
}

func TestManifestSecrets(t *testing.T) {
	const secret = "c2VjcmV0LWtleS1ub3QtZm9yLXlvdXItZXllcw=="
	env := func(module, name, value string) func(doc) {
		return func(d doc) { moduleOf(d, module)["env"].(doc)[name] = doc{"value": value} }
	}
	fail := func(module, place, msg string) []want {
		return []want{{module: module, subject: place, status: checks.Fail, msg: msg}}
	}
	runManifestCases(t, "manifest-secrets", []manifestCase{
		{name: "placeholders only", want: []want{{status: checks.Pass, msg: "no literal secret in the"}}},
		{name: "a connection string", mutate: env("sensor", "IOTHUB_CONNECTION", "HostName=h.azure-devices.net;DeviceId=d;SharedAccessKey="+secret),
			want: fail("sensor", "env.IOTHUB_CONNECTION", "sensor: env.IOTHUB_CONNECTION (line 1) holds a connection string with SharedAccessKey= written in the manifest")},
		{name: "a connection string with its key a variable", mutate: env("sensor", "IOTHUB_CONNECTION", "HostName=h;DeviceId=d;SharedAccessKey=${KEY}"),
			want: []want{{status: checks.Pass, msg: "no literal secret"}}},
		{name: "a storage account key", mutate: env("filter", "STORE", "DefaultEndpointsProtocol=https;AccountName=a;AccountKey="+secret),
			want: fail("filter", "env.STORE", "a connection string with AccountKey=")},
		{name: "a SAS token", mutate: env("filter", "SAS", "SharedAccessSignature sr=h.azure-devices.net&sig="+secret+"&se=1"),
			want: fail("filter", "env.SAS", "a SAS token")},
		{name: "a variable named like a key", mutate: env("filter", "API_KEY", secret),
			want: fail("filter", "env.API_KEY", "a literal value of API_KEY")},
		{name: "camel case", mutate: env("filter", "dbPassword", "hunter2"), want: fail("filter", "env.dbPassword", "dbPassword")},
		{name: "names that only hold a key's name or place", mutate: func(d doc) {
			env("filter", "KeyVaultName", "contoso-vault")(d)
			env("filter", "TokenEndpoint", "https://login.example/token")(d)
			env("filter", "TLS_KEY", "/certs/server.key")(d)
			env("filter", "UseSharedKey", "true")(d)
		}, want: []want{{status: checks.Pass, msg: "no literal secret"}}},
		{name: "placeholders of pipelines and samples", mutate: func(d doc) {
			env("filter", "A_TOKEN", "$(PipelineToken)")(d)
			env("filter", "B_TOKEN", "#{Token}#")(d)
			env("filter", "C_TOKEN", "__TOKEN__")(d)
			env("filter", "D_TOKEN", "<your token>")(d)
			env("filter", "E_TOKEN", "REPLACE_ME")(d)
		}, want: []want{{status: checks.Pass, msg: "no literal secret"}}},
		{name: "a registry password", mutate: func(d doc) {
			agentDesired(d)["runtime"].(doc)["settings"].(doc)["registryCredentials"].(doc)["acr"].(doc)["password"] = secret
		}, want: fail("", "registryCredentials.acr.password", "$edgeAgent's runtime settings: registryCredentials.acr.password (line 1) holds a registry password")},
		{name: "in createOptions' Env", mutate: func(d doc) {
			settingsOf(d, "filter")["createOptions"] = `{"Env":["DB_PASSWORD=` + secret + `"]}`
		}, want: fail("filter", "createOptions Env DB_PASSWORD", "a literal value of DB_PASSWORD")},
		{name: "in a module's desired properties", mutate: func(d doc) {
			d["modulesContent"].(doc)["filter"] = doc{"properties.desired": doc{"store": doc{"connectionString": "AccountName=a;AccountKey=" + secret}}}
		}, want: fail("filter", "properties.desired.store.connectionString", "AccountKey=")},
		{name: "a private key", mutate: env("filter", "CERT", "-----BEGIN EC PRIVATE KEY-----\nMHc...\n-----END EC PRIVATE KEY-----"),
			want: fail("filter", "env.CERT", "a private key")},
	})
}

// TestManifestSecretsNeverShowTheValue: whatever the check finds, the
// report it goes into never holds the value.
func TestManifestSecretsNeverShowTheValue(t *testing.T) {
	const secret = "c2VjcmV0LWtleS1ub3QtZm9yLXlvdXItZXllcw=="
	d := goodManifest()
	moduleOf(d, "filter")["env"].(doc)["API_KEY"] = doc{"value": secret}
	moduleOf(d, "sensor")["env"].(doc)["IOTHUB_CONNECTION"] = doc{"value": "HostName=h;SharedAccessKey=" + secret}
	settingsOf(d, "filter")["createOptions"] = `{"Env":["DB_PASSWORD=` + secret + `"]}`
	s := manifestSnapshot(t, d, manifest.Options{})
	for _, f := range runAll(s, decodePolicy(t, "")) {
		b, _ := json.Marshal(f)
		if strings.Contains(string(b), secret[:12]) {
			t.Errorf("%s %s holds the secret: %s", f.ID, f.Module, b)
		}
	}
}

// TestUnresolvedVariablesSkip: a variable left in a module's setting turns
// the findings of the checks reading that setting into skips naming it; the
// checks reading other settings still decide.
func TestUnresolvedVariablesSkip(t *testing.T) {
	d := goodManifest()
	settingsOf(d, "filter")["image"] = "${MODULES.filter}"
	moduleOf(d, "edgeHub")["env"].(doc)["UpstreamProtocol"] = doc{"value": "$UPSTREAM_PROTOCOL"}
	s := manifestSnapshot(t, d, manifest.Options{})
	fs := runAll(s, decodePolicy(t, ""))
	expectFindings(t, byID(fs, "image-tags-pinned"), []want{{module: "filter", status: checks.Skip,
		msg: "cannot decide for filter from the manifest: its image holds ${MODULES.filter}, which is not resolved (give --modules-dir"}})
	expectFindings(t, byID(fs, "upstream-protocol-consistent"), []want{{status: checks.Skip,
		msg: "cannot decide for edgeHub from the manifest: its env.UpstreamProtocol holds $UPSTREAM_PROTOCOL"}})
	expectFindings(t, byID(fs, "module-resource-limits"), []want{{module: "filter", status: checks.Pass, msg: "limited"}})

	// Resolved, they decide.
	s = manifestSnapshot(t, d, manifest.Options{Vars: manifest.Vars{"UPSTREAM_PROTOCOL": "AmqpWs"}})
	expectFindings(t, byID(runAll(s, decodePolicy(t, "")), "upstream-protocol-consistent"), []want{{status: checks.Fail,
		msg: "edgeAgent uses Amqp but edgeHub uses AmqpWs"}})
}

// TestVariableInABindSkipsOnlyTheChecksOfBinds: a variable in a bind's
// source leaves privileged, namespaces, ports and limits decided (a
// privileged module still fails); only the checks of mounts skip, naming it.
// Where the variable's place is unknown (createOptions as a whole, or a
// top-level key), every check of createOptions still skips.
func TestVariableInABindSkipsOnlyTheChecksOfBinds(t *testing.T) {
	d := goodManifest()
	settingsOf(d, "filter")["createOptions"] = `{"HostConfig":{"Privileged":true,"Memory":1,"NanoCpus":1,` +
		`"Binds":["${PATH_PREFIX}/data:/data"],"PortBindings":{"8080/tcp":[{"HostPort":"8080"}]}}}`
	fs := runAll(manifestSnapshot(t, d, manifest.Options{}), decodePolicy(t, ""))
	expectFindings(t, filterModule(byID(fs, "privileged-containers"), "filter"), []want{{module: "filter", status: checks.Fail, msg: "privileged"}})
	expectFindings(t, filterModule(byID(fs, "exposed-ports"), "filter"), []want{{module: "filter", status: checks.Fail, msg: "8080"}})
	expectFindings(t, filterModule(byID(fs, "module-resource-limits"), "filter"), []want{{module: "filter", status: checks.Pass, msg: "limited"}})
	for _, id := range []string{"docker-socket-mounts", "sensitive-host-mounts"} {
		expectFindings(t, filterModule(byID(fs, id), "filter"), []want{{module: "filter", status: checks.Skip,
			msg: "cannot decide for filter from the manifest: its settings.createOptions at HostConfig.Binds holds ${PATH_PREFIX}, which is not resolved"}})
	}
	for _, f := range fs {
		if f.Module == "filter" && f.Status == checks.Skip && len(f.Unresolved) > 0 &&
			f.ID != "docker-socket-mounts" && f.ID != "sensitive-host-mounts" && f.ID != "create-options-valid" {
			t.Errorf("%s skips for %v, which it does not read", f.ID, f.Unresolved)
		}
	}

	// A variable as a top-level key: any field may change.
	settingsOf(d, "filter")["createOptions"] = `{"HostConfig":{"Privileged":true},"${EXTRA}":{}}`
	fs = runAll(manifestSnapshot(t, d, manifest.Options{}), decodePolicy(t, ""))
	for _, id := range []string{"privileged-containers", "docker-socket-mounts", "module-resource-limits"} {
		expectFindings(t, filterModule(byID(fs, id), "filter"), []want{{module: "filter", status: checks.Skip,
			msg: "its settings.createOptions holds ${EXTRA}"}})
	}
}

func filterModule(fs []checks.Finding, module string) []checks.Finding {
	var out []checks.Finding
	for _, f := range fs {
		if f.Module == module {
			out = append(out, f)
		}
	}
	return out
}

// TestDeviceChecksFromAManifest: what a manifest cannot know skips, saying
// it needs a device; what it states is decided.
func TestDeviceChecksFromAManifest(t *testing.T) {
	d := goodManifest()
	settingsOf(d, "filter")["createOptions"] = `{"HostConfig":{"Memory":1,"NanoCpus":1}}`
	fs := runAll(manifestSnapshot(t, d, manifest.Options{}), decodePolicy(t, ""))
	for _, id := range []string{"modules-running", "container-engine-moby", "disk-space", "production-certificates",
		"upstream-connectivity", "edgehub-optimize-for-performance", "unused-volumes", "image-garbage-collection"} {
		expectFindings(t, byID(fs, id), []want{{status: checks.Skip, msg: manifest.NeedsDevice}})
	}
	expectFindings(t, byID(fs, "container-engine-dns"), []want{{status: checks.Skip,
		msg: "4 modules set no Dns: the engine's DNS servers are set on the device (/etc/docker/daemon.json), not in the manifest"}})
	expectFindings(t, byID(fs, "container-engine-logrotate"), []want{{module: "filter", status: checks.Skip,
		msg: "filter logs with the engine's default driver, which is set on the device"}})
	for _, id := range []string{"module-resource-limits", "privileged-containers", "image-tags-pinned", "edge-hub-storage-mounted-from-host"} {
		for _, f := range byID(fs, id) {
			if f.Status != checks.Pass {
				t.Errorf("%s %s: %s %q, want pass", id, f.Module, f.Status, f.Message)
			}
		}
	}
}
