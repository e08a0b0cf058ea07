package manifest_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/manifest"
	"github.com/edge-readiness/edge-readiness/internal/policy"
)

// fiftyModuleManifest is a deployment of edgeAgent, edgeHub and 48 modules,
// each with createOptions, env, a route and desired properties: about 60 KB,
// twice what IoT Hub accepts.
func fiftyModuleManifest(tb testing.TB) []byte {
	tb.Helper()
	type m = map[string]any
	create := func(i int) string {
		b, _ := json.Marshal(m{"Env": []string{fmt.Sprintf("INDEX=%d", i), "MODE=production"},
			"HostConfig": m{"Binds": []string{fmt.Sprintf("/srv/module%02d:/data", i)}, "Memory": 134217728, "NanoCpus": 250000000,
				"PortBindings": m{fmt.Sprintf("%d/tcp", 9000+i): []m{{"HostIp": "127.0.0.1", "HostPort": fmt.Sprint(9000 + i)}}},
				"LogConfig":    m{"Type": "json-file", "Config": m{"max-size": "10m", "max-file": "3"}}}})
		return string(b)
	}
	modules, routes, content := m{}, m{}, m{}
	for i := 0; i < 48; i++ {
		name := fmt.Sprintf("module%02d", i)
		modules[name] = m{"version": "1.0", "type": "docker", "status": "running", "restartPolicy": "always",
			"settings": m{"image": fmt.Sprintf("contoso.azurecr.io/%s:1.%d.0", name, i), "createOptions": create(i)},
			"env":      m{"LOG_LEVEL": m{"value": "info"}, "API_KEY": m{"value": "$API_KEY"}}}
		routes[name+"ToCloud"] = fmt.Sprintf("FROM /messages/modules/%s/outputs/* INTO $upstream", name)
		content[name] = m{"properties.desired": m{"interval": i, "endpoint": "https://contoso.example"}}
	}
	system := func(image string) m {
		return m{"type": "docker", "settings": m{"image": image, "createOptions": create(99)}, "env": m{"UpstreamProtocol": m{"value": "Amqp"}}}
	}
	content["$edgeAgent"] = m{"properties.desired": m{"schemaVersion": "1.1",
		"runtime":       m{"type": "docker", "settings": m{"registryCredentials": m{"acr": m{"username": "u", "password": "$PW", "address": "contoso.azurecr.io"}}}},
		"systemModules": m{"edgeAgent": system("mcr.microsoft.com/azureiotedge-agent:1.5.21"), "edgeHub": system("mcr.microsoft.com/azureiotedge-hub:1.5.21")},
		"modules":       modules}}
	content["$edgeHub"] = m{"properties.desired": m{"schemaVersion": "1.2", "routes": routes}}
	b, err := json.MarshalIndent(m{"modulesContent": content}, "", "  ")
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// BenchmarkLintFiftyModules: check --manifest on a 50-module deployment,
// from the bytes to the findings of the whole catalog.
func BenchmarkLintFiftyModules(b *testing.B) {
	data := fiftyModuleManifest(b)
	pol := policy.Default(checks.Specs(checks.All()))
	all := checks.All()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		m, err := manifest.Parse(data, "deployment.json", manifest.Options{})
		if err != nil {
			b.Fatal(err)
		}
		s := manifest.Snapshot(m, time.Unix(0, 0))
		if fs := checks.Run(all, checks.Input{Snap: s, Self: "readiness"}, pol); len(fs) == 0 {
			b.Fatal("no findings")
		}
	}
}

func TestFiftyModuleManifest(t *testing.T) {
	m, err := manifest.Parse(fiftyModuleManifest(t), "deployment.json", manifest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Modules) != 50 || len(m.Routes) != 48 {
		t.Fatalf("%d modules, %d routes", len(m.Modules), len(m.Routes))
	}
	start := time.Now()
	s := manifest.Snapshot(m, start)
	fs := checks.Run(checks.All(), checks.Input{Snap: s, Self: "readiness"}, policy.Default(checks.Specs(checks.All())))
	for _, f := range fs {
		if f.Section == checks.SecManifest && f.Status != checks.Pass {
			t.Errorf("%s %s%s: %s %q", f.ID, f.Module, f.Subject, f.Status, f.Message)
		}
	}
}
