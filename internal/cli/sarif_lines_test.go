package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSARIFLinesOfAManifest: check --manifest --format sarif locates each
// result at the manifest's file and the line of the module or route it
// concerns, so that code scanning annotates the right line.
func TestSARIFLinesOfAManifest(t *testing.T) {
	const manifest = `{
  "modulesContent": {
    "$edgeAgent": {
      "properties.desired": {
        "schemaVersion": "1.1",
        "runtime": { "type": "docker", "settings": { "minDockerVersion": "v1.25" } },
        "systemModules": {
          "edgeAgent": { "type": "docker", "settings": { "image": "mcr.microsoft.com/azureiotedge-agent:1.6.8", "createOptions": "{}" } },
          "edgeHub": { "type": "docker", "status": "running", "restartPolicy": "always",
            "settings": { "image": "mcr.microsoft.com/azureiotedge-hub:1.6.8", "createOptions": "{}" } }
        },
        "modules": {
          "sensor": {
            "version": "1.0", "type": "docker", "status": "running", "restartPolicy": "always",
            "settings": { "image": "contoso.azurecr.io/sensor:1.0.0", "createOptions": "{}" }
          }
        }
      }
    },
    "$edgeHub": {
      "properties.desired": {
        "schemaVersion": "1.1",
        "routes": {
          "toNowhere": "FROM /messages/modules/ghost/* INTO $upstream"
        },
        "storeAndForwardConfiguration": { "timeToLiveSecs": 7200 }
      }
    }
  }
}
`
	path := filepath.Join(t.TempDir(), "deployment.json")
	if err := os.WriteFile(path, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	lineOf := func(needle string) int {
		for i, l := range strings.Split(manifest, "\n") {
			if strings.Contains(l, needle) {
				return i + 1
			}
		}
		t.Fatalf("%q is not in the manifest", needle)
		return 0
	}
	_, out, errs := runCheck(t, "--manifest", path, "--format", "sarif")
	var log struct {
		Runs []struct {
			Results []struct {
				RuleID    string `json:"ruleId"`
				Locations []struct {
					PhysicalLocation *struct {
						ArtifactLocation struct {
							URI string `json:"uri"`
						} `json:"artifactLocation"`
						Region *struct {
							StartLine int `json:"startLine"`
						} `json:"region"`
					} `json:"physicalLocation"`
					LogicalLocations []struct {
						Name string `json:"name"`
					} `json:"logicalLocations"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal([]byte(out), &log); err != nil || len(log.Runs) != 1 {
		t.Fatalf("not SARIF: %v\n%s\n%s", err, out, errs)
	}
	want := map[string]int{ // rule and subject -> the line its result must point at
		"module-resource-limits/sensor":    lineOf(`"sensor": {`),
		"module-resource-limits/edgeAgent": lineOf(`"edgeAgent": {`),
		"routes-valid/":                    lineOf(`"toNowhere"`),
	}
	for _, r := range log.Runs[0].Results {
		key := r.RuleID + "/"
		if len(r.Locations) > 0 && len(r.Locations[0].LogicalLocations) > 0 {
			key += r.Locations[0].LogicalLocations[0].Name
		}
		line, ok := want[key]
		if !ok {
			continue
		}
		if len(r.Locations) == 0 || r.Locations[0].PhysicalLocation == nil || r.Locations[0].PhysicalLocation.Region == nil {
			t.Errorf("%s: no physical location", key)
			continue
		}
		pl := r.Locations[0].PhysicalLocation
		if !strings.HasSuffix(pl.ArtifactLocation.URI, "deployment.json") || pl.Region.StartLine != line {
			t.Errorf("%s: located at %s line %d, want line %d", key, pl.ArtifactLocation.URI, pl.Region.StartLine, line)
		}
		delete(want, key)
	}
	for rule := range want {
		t.Errorf("no SARIF result for %s", rule)
	}
}
