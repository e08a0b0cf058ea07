package e2e

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// TestMonitoringManifest: deployment/deployment.monitoring.template.json is
// the base template plus Microsoft's metrics-collector module, configured to
// scrape edgeHub, edgeAgent and this module's endpoint into Azure Monitor
// (InsightsMetrics). Everything else must stay the base template's.
func TestMonitoringManifest(t *testing.T) {
	var base, mon map[string]any
	for path, dst := range map[string]*map[string]any{"deployment/deployment.template.json": &base,
		"deployment/deployment.monitoring.template.json": &mon} {
		if err := json.Unmarshal(readRepoFile(t, path), dst); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	modules := func(m map[string]any) map[string]any {
		return m["modulesContent"].(map[string]any)["$edgeAgent"].(map[string]any)["properties.desired"].(map[string]any)["modules"].(map[string]any)
	}
	mc, ok := modules(mon)["metricsCollector"].(map[string]any)
	if !ok {
		t.Fatal("no metricsCollector module")
	}
	settings := mc["settings"].(map[string]any)
	if img, _ := settings["image"].(string); !strings.HasPrefix(img, "mcr.microsoft.com/azureiotedge-metrics-collector:1.") {
		t.Errorf("metricsCollector image = %q", img)
	}
	env := map[string]string{}
	for k, v := range mc["env"].(map[string]any) {
		env[k], _ = v.(map[string]any)["value"].(string)
	}
	eps := strings.Split(env["MetricsEndpointsCSV"], ",")
	want := []string{"http://edgeHub:9600/metrics", "http://edgeAgent:9600/metrics", "http://readiness:9600/metrics"}
	if !reflect.DeepEqual(eps, want) {
		t.Errorf("MetricsEndpointsCSV = %q, want %q (every endpoint must be listed, the system modules' too)", eps, want)
	}
	if env["UploadTarget"] != "AzureMonitor" || env["ResourceId"] == "" || env["LogAnalyticsWorkspaceId"] == "" || env["LogAnalyticsSharedKey"] == "" {
		t.Errorf("metricsCollector env = %v", env)
	}
	for k, v := range env { // secrets come from the tooling's .env, never literal
		if strings.Contains(strings.ToLower(k), "key") && !strings.HasPrefix(v, "$") {
			t.Errorf("%s is a literal value, want a $VARIABLE", k)
		}
	}
	var create map[string]any
	if err := json.Unmarshal([]byte(settings["createOptions"].(string)), &create); err != nil {
		t.Fatalf("metricsCollector createOptions: %v", err)
	}
	hc, _ := create["HostConfig"].(map[string]any)
	if hc["Memory"] == nil || hc["LogConfig"] == nil {
		t.Errorf("metricsCollector has no memory limit or log rotation: %v", hc)
	}
	delete(modules(mon), "metricsCollector")
	if !reflect.DeepEqual(base, mon) {
		t.Errorf("the monitoring template differs from deployment.template.json beyond the metricsCollector module: regenerate it")
	}
}
