package manifest

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// TestMalformedEnvAgreesWithSchema: the env entries the reader records as
// ones edgeAgent cannot read are exactly those the official edgeAgent
// deployment schema (1.1, as the az CLI ships it) refuses, entry by entry,
// in the repository's own deployment template.
func TestMalformedEnvAgreesWithSchema(t *testing.T) {
	const schemaFile = "azure-iot-edgeagent-deployment-1.1.json"
	raw, err := os.ReadFile(filepath.Join("..", "..", "testdata", "schemas", schemaFile))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("file:///"+schemaFile, doc); err != nil {
		t.Fatal(err)
	}
	schema, err := c.Compile("file:///" + schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := os.ReadFile(filepath.Join("..", "..", "deployment", "deployment.template.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		entry any
		bad   bool
	}{
		{"a value", map[string]any{"value": "x"}, false},
		{"a number value", map[string]any{"value": 5}, false},
		{"a boolean value", map[string]any{"value": true}, false},
		{"a bare string", "a comment", true},
		{"a bare number", 5, true},
		{"an array", []any{"x"}, true},
		{"an object value", map[string]any{"value": map[string]any{"x": 1}}, true},
		{"an array value", map[string]any{"value": []any{1}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d map[string]any
			if err := json.Unmarshal(tmpl, &d); err != nil {
				t.Fatal(err)
			}
			agent := d["modulesContent"].(map[string]any)["$edgeAgent"].(map[string]any)
			mod := agent["properties.desired"].(map[string]any)["modules"].(map[string]any)["readiness"].(map[string]any)
			env, _ := mod["env"].(map[string]any)
			if env == nil {
				env = map[string]any{}
				mod["env"] = env
			}
			env["ENTRY"] = tc.entry
			b, err := json.Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(mustMarshal(t, map[string]any{"$edgeAgent": agent})))
			if err != nil {
				t.Fatal(err)
			}
			schemaErr := schema.Validate(inst)
			m, err := Parse(b, "deployment.template.json", Options{})
			if err != nil {
				t.Fatalf("the reader refuses the manifest: %v", err)
			}
			var recorded bool
			for _, mm := range m.Modules {
				for _, e := range mm.BadEnv {
					recorded = recorded || (mm.Name == "readiness" && e.Name == "ENTRY")
				}
			}
			if recorded != tc.bad || (schemaErr != nil) != tc.bad {
				t.Errorf("recorded as unreadable: %v; refused by the schema: %v; want both %v", recorded, schemaErr, tc.bad)
			}
		})
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
