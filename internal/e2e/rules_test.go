package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/report"
	"github.com/edge-readiness/edge-readiness/internal/rules"
)

// TestRulesSameFourWays: one policy file with the example rules (every rule
// of examples/rules in one policy), on one simulated device known four ways:
// the real engine (check), its saved snapshot (check --snapshot), its support
// bundle (check --support-bundle) and the deployment manifest that deploys
// it (check --manifest). Wherever a way decides a rule's finding, it decides
// it as the engine run does.
func TestRulesSameFourWays(t *testing.T) {
	d := gatewayDevice(t, false)
	dir := t.TempDir()
	policyPath := filepath.Join(dir, "policy.json")
	all := map[string]any{}
	files, _ := filepath.Glob("../../examples/rules/*.policy.json")
	for _, f := range files {
		var p struct{ Rules map[string]any }
		b, err := os.ReadFile(f)
		if err != nil || json.Unmarshal(b, &p) != nil {
			t.Fatalf("reading %s: %v", f, err)
		}
		for id, r := range p.Rules {
			all[id] = r
		}
	}
	if len(all) < 10 {
		t.Fatalf("%d example rules", len(all))
	}
	b, _ := json.Marshal(map[string]any{"rules": all})
	if err := os.WriteFile(policyPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	manPath, zipPath := deviceFiles(t, d, dir)
	snapPath := filepath.Join(dir, "device.snapshot.json")

	noEngine := []string{"DOCKER_HOST=unix:///nonexistent/docker.sock"}
	live := jsonReport(t, run(t, "check", "--format", "json", "--no-probes", "--policy", policyPath, "--save-snapshot", snapPath))
	ways := []struct {
		name string
		rep  *report.Report
	}{
		{"snapshot", jsonReport(t, runEnv(t, noEngine, "check", "--format", "json", "--policy", policyPath, "--snapshot", snapPath))},
		{"support bundle", jsonReport(t, runEnv(t, noEngine, "check", "--format", "json", "--policy", policyPath, "--support-bundle", zipPath))},
		{"manifest", jsonReport(t, runEnv(t, noEngine, "check", "--format", "json", "--policy", policyPath, "--manifest", manPath))},
	}
	decided := func(s checks.Status) bool { return s == checks.Pass || s == checks.Fail }
	liveDecided := 0
	for _, f := range live.Findings {
		if f.Section == rules.Section && decided(f.Status) {
			liveDecided++
		}
	}
	if liveDecided < 40 {
		t.Errorf("the engine run decides %d rule findings, want at least 40", liveDecided)
	}
	for _, w := range ways {
		n := 0
		for _, f := range w.rep.Findings {
			if f.Section != rules.Section {
				continue
			}
			if !decided(f.Status) {
				if f.Status == checks.Skip && !strings.Contains(f.Message, "which this source does not give") && !strings.Contains(f.Message, "${") {
					t.Errorf("%s: %s skips without naming the field: %s", w.name, f.ID, f.Message)
				}
				continue
			}
			var match *checks.Finding
			for i := range live.Findings {
				l := &live.Findings[i]
				if l.ID == f.ID && l.Module == f.Module && l.Subject == f.Subject {
					match = l
				}
			}
			switch {
			case match == nil:
				if f.ID != "restart-always" { // only a manifest holds the restart policy
					t.Errorf("%s decides %s [%s] (%s) but the engine run has no such finding", w.name, f.ID, f.Module, f.Status)
				}
				continue
			case match.Status != f.Status:
				t.Errorf("%s [%s]: engine %s (%s), %s %s (%s)", f.ID, f.Module, match.Status, match.Message, w.name, f.Status, f.Message)
				continue
			}
			n++
		}
		t.Logf("%s: %d rule findings agree with the engine run", w.name, n)
		if n < 30 {
			t.Errorf("%s: only %d rule findings compared: the test proves little", w.name, n)
		}
	}
}
