package fix_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/fix"
	"github.com/edge-readiness/edge-readiness/internal/policy"
)

// fiftyModules is a generated deployment of edgeAgent, edgeHub and 48
// modules with createOptions strings but no resource limits, the runtime
// on a retired release and no host storage: every module gets a fix.
func fiftyModules(tb testing.TB) []byte {
	tb.Helper()
	type m = map[string]any
	modules, routes := m{}, m{}
	for i := range 48 {
		name := fmt.Sprintf("module%02d", i)
		create, _ := json.Marshal(m{"HostConfig": m{"Binds": []string{fmt.Sprintf("/srv/%s:/data", name)},
			"LogConfig": m{"Type": "json-file", "Config": m{"max-size": "10m"}}}})
		modules[name] = m{"version": "1.0", "type": "docker", "status": "running", "restartPolicy": "always",
			"settings": m{"image": fmt.Sprintf("contoso.azurecr.io/%s:1.%d.0", name, i), "createOptions": string(create)},
		}
		routes[name+"ToCloud"] = fmt.Sprintf("FROM /messages/modules/%s/outputs/* INTO $upstream", name)
	}
	system := func(image string) m {
		return m{"type": "docker", "status": "running", "restartPolicy": "always", "settings": m{"image": image, "createOptions": "{}"}}
	}
	doc := m{"modulesContent": m{
		"$edgeAgent": m{"properties.desired": m{"schemaVersion": "1.1", "runtime": m{"type": "docker", "settings": m{}},
			"systemModules": m{"edgeAgent": system("mcr.microsoft.com/azureiotedge-agent:1.5"), "edgeHub": system("mcr.microsoft.com/azureiotedge-hub:1.5")},
			"modules":       modules}},
		"$edgeHub": m{"properties.desired": m{"schemaVersion": "1.2", "routes": routes, "storeAndForwardConfiguration": m{"timeToLiveSecs": 7200}}}}}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// TestFiftyModules: every module of the 50-module deployment is fixed, and
// the result is stable.
func TestFiftyModules(t *testing.T) {
	pol, err := policy.Decode([]byte(corpusPolicy), checks.Specs(checks.All()))
	if err != nil {
		t.Fatal(err)
	}
	opts := fix.Options{Policy: pol, Self: "readiness", Now: now}
	input := fiftyModules(t)
	res, err := fix.Run(input, "fifty.json", opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Changes) != 50 {
		t.Errorf("%d modules changed, want 50", len(res.Changes))
	}
	checkInvariants(t, input, res, opts)
}

// BenchmarkFixFiftyModules: fix on a 50-module deployment, from the bytes
// to the fixed file, its changes and its patch (the checks run twice: on
// the input, and on the output to verify it).
func BenchmarkFixFiftyModules(b *testing.B) {
	pol, err := policy.Decode([]byte(corpusPolicy), checks.Specs(checks.All()))
	if err != nil {
		b.Fatal(err)
	}
	opts := fix.Options{Policy: pol, Self: "readiness", Now: now}
	input := fiftyModules(b)
	b.SetBytes(int64(len(input)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := fix.Run(input, "fifty.json", opts); err != nil {
			b.Fatal(err)
		}
	}
}
