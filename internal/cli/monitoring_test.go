package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edge-readiness/edge-readiness/internal/checks"
)

// TestManifestMetricsCollectorIngestion: check --manifest decides
// metrics-collector-ingestion from a deployment manifest. The repository's
// monitoring template (metrics-collector 2.x on the Logs Ingestion API)
// passes; the same template turned back into a 1.3 collector with the shared
// key of the retired HTTP Data Collector API fails, naming the setting and
// never its value.
func TestManifestMetricsCollectorIngestion(t *testing.T) {
	dir := t.TempDir()
	env := filepath.Join(dir, ".env")
	if err := os.WriteFile(env, []byte("CONTAINER_REGISTRY_ADDRESS=contoso.azurecr.io\nCONTAINER_REGISTRY_USERNAME=contoso\nCONTAINER_REGISTRY_PASSWORD=pw\nDOCKER_GID=998\n"+
		"IOTHUB_ARM_RESOURCEID=/subscriptions/x/resourceGroups/rg/providers/Microsoft.Devices/IotHubs/hub\n"+
		"DCR_LOGS_INGESTION_ENDPOINT=https://dce.example.ingest.monitor.azure.com\nDCR_IMMUTABLE_ID=dcr-0123\n"+
		"AZURE_TENANT_ID=tenant\nAZURE_CLIENT_ID=client\nAZURE_CLIENT_SECRET=planted-secret-value\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	template := filepath.Join("..", "..", "deployment", "deployment.monitoring.template.json")
	_, rep, _ := checkReport(t, "--manifest", template, "--env-file", env)
	fs := findingsOf(rep, "metrics-collector-ingestion")
	if len(fs) == 0 {
		t.Fatal("no metrics-collector-ingestion finding on the monitoring template")
	}
	for _, f := range fs {
		if f.Status != checks.Pass {
			t.Errorf("monitoring template: %s %s %q", f.Module, f.Status, f.Message)
		}
	}

	raw, err := os.ReadFile(template)
	if err != nil {
		t.Fatal(err)
	}
	old := strings.NewReplacer(
		"azureiotedge-metrics-collector:2.0.0", "azureiotedge-metrics-collector:1.3",
		`"DataCollectionEndpoint"`, `"LogAnalyticsWorkspaceId"`,
		`"DataCollectionRuleId"`, `"LogAnalyticsSharedKey"`,
	).Replace(string(raw))
	if old == string(raw) || !strings.Contains(old, "metrics-collector:1.3") {
		t.Fatal("the monitoring template no longer has the settings this test turns back")
	}
	legacy := filepath.Join(dir, "legacy.json")
	if err := os.WriteFile(legacy, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	_, rep, _ = checkReport(t, "--manifest", legacy, "--env-file", env)
	fs = findingsOf(rep, "metrics-collector-ingestion")
	failed := 0
	for _, f := range fs {
		if f.Status == checks.Fail {
			failed++
			if !strings.Contains(f.Message, "LogAnalytics") && !strings.Contains(f.Message, "1.") {
				t.Errorf("message names neither the setting nor the release: %q", f.Message)
			}
			if strings.Contains(f.Message, "dcr-0123") || strings.Contains(f.Message, "planted-secret-value") {
				t.Errorf("message carries a value: %q", f.Message)
			}
		}
	}
	if failed == 0 {
		t.Errorf("metrics-collector 1.3 with LogAnalyticsSharedKey passed: %+v", fs)
	}
}
