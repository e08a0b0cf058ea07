package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/facts"
	"github.com/edge-readiness/edge-readiness/internal/policy"
)

// exampleAt writes the README's example snapshot with its clock set to ts
// and edgeAgent and edgeHub on the given release, as the deployment would
// name them.
func exampleAt(t *testing.T, version, ts string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "examples", "gateway.snapshot.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	snap := doc["snapshot"].(map[string]any)
	snap["time"] = ts
	repos := map[string]string{"edgeAgent": "mcr.microsoft.com/azureiotedge-agent:", "edgeHub": "mcr.microsoft.com/azureiotedge-hub:"}
	changed := 0
	for _, c := range snap["containers"].([]any) {
		c := c.(map[string]any)
		if repo, ok := repos[c["name"].(string)]; ok {
			c["labels"].(map[string]any)[facts.OriginalImageLabel] = repo + version
			changed++
		}
	}
	if changed != 2 {
		t.Fatalf("the example has %d of edgeAgent and edgeHub", changed)
	}
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "gateway.snapshot.json")
	if err := os.WriteFile(p, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestExampleRuntimeLifecycle: the example snapshot, with its clock and
// runtime images changed, is judged against each release's end of
// servicing at the snapshot's time, and the report names the lifecycle
// table it was judged against.
func TestExampleRuntimeLifecycle(t *testing.T) {
	today := "2026-12-07T15:00:00Z"
	for _, tc := range []struct {
		name, version, at string
		status            checks.Status
		severity          policy.Severity
		msg               []string
	}{
		{"1.6.8 today passes", "1.6.8", today, checks.Pass, policy.Critical, []string{"a supported release (serviced through 2028-11-14)"}},
		{"1.5.21 today fails critically", "1.5.21", today, checks.Fail, policy.Critical, []string{"whose servicing ended on 2026-11-10", "move to 1.6"}},
		{"1.5.21 on 2026-03-01 passes", "1.5.21", "2026-03-01T09:00:00Z", checks.Pass, policy.Critical, []string{"serviced through 2026-11-10"}},
		{"1.6.8 on 2028-09-01 warns", "1.6.8", "2028-09-01T09:00:00Z", checks.Fail, policy.Warning, []string{"serviced only through 2028-11-14", "within warningDays 180"}},
		{"1.6.8 on 2028-12-01 fails critically", "1.6.8", "2028-12-01T09:00:00Z", checks.Fail, policy.Critical, []string{"whose servicing ended on 2028-11-14"}},
		{"1.4.27 today fails critically", "1.4.27", today, checks.Fail, policy.Critical, []string{"whose servicing ended on 2024-11-12", "move to 1.6"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, rep, errs := checkReport(t, "--snapshot", exampleAt(t, tc.version, tc.at))
			fs := findingsOf(rep, "runtime-version-supported")
			if len(fs) != 2 {
				t.Fatalf("%d runtime-version-supported findings, want 2\n%s", len(fs), errs)
			}
			for _, f := range fs {
				if f.Status != tc.status || f.Severity != tc.severity {
					t.Errorf("%s: %s/%s, want %s/%s: %s", f.Module, f.Status, f.Severity, tc.status, tc.severity, f.Message)
				}
				for _, m := range tc.msg {
					if !strings.Contains(f.Message, m) {
						t.Errorf("%s: %q does not say %q", f.Module, f.Message, m)
					}
				}
			}
			if rep.Policy.Lifecycle != "1.6=2028-11-14" {
				t.Errorf("report.policy.lifecycle = %q, want the newest entry 1.6=2028-11-14", rep.Policy.Lifecycle)
			}
		})
	}
}

// TestExampleIsCleanAndCurrent: the Quick start's first report, on the
// shipped example, decides every check it can (no error finding: the
// certificates were recorded, not refused by the recording machine) and
// shows a runtime on the newest 1.6 release.
func TestExampleIsCleanAndCurrent(t *testing.T) {
	code, rep, errs := checkReport(t, "--snapshot", filepath.Join("..", "..", "examples", "gateway.snapshot.json"))
	if code != 1 {
		t.Errorf("exit %d, want 1 (the gateway has critical mistakes)\n%s", code, errs)
	}
	for _, f := range rep.Findings {
		if f.Status == checks.Error {
			t.Errorf("%s %s could not decide on the example: %s", f.ID, f.Module+f.Subject, f.Message)
		}
	}
	for _, f := range findingsOf(rep, "runtime-version-supported") {
		if f.Status != checks.Pass || !strings.Contains(f.Message, ":1.6.8)") {
			t.Errorf("%s: %s %s", f.Module, f.Status, f.Message)
		}
	}
	if fs := findingsOf(rep, "production-certificates"); len(fs) != 1 || fs[0].Status != checks.Fail ||
		!strings.Contains(fs[0].Message, "quickstart CA") {
		t.Errorf("production-certificates on the example: %+v, want the recorded quickstart Edge CA to fail", fs)
	}
}

// oldRelease finds an IoT Edge runtime image of a release before 1.6.
var oldRelease = regexp.MustCompile(`azureiotedge-(agent|hub|diagnostics|simulated-temperature-sensor):(0|1\.[0-5])(\.|"|$)`)

// TestDeploymentNamesNoOldRelease: no file in deployment/ names an IoT
// Edge runtime release before 1.6 LTS (1.5 ended on 2026-11-10).
func TestDeploymentNamesNoOldRelease(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "deployment", "*"))
	if err != nil || len(files) < 4 {
		t.Fatalf("deployment/ holds %d files: %v", len(files), err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if m := oldRelease.Find(data); m != nil {
			t.Errorf("%s names %s, a release before 1.6", f, m)
		}
	}
	if !oldRelease.MatchString(`"image": "mcr.microsoft.com/azureiotedge-hub:1.5.21"`) || oldRelease.MatchString(`azureiotedge-hub:1.6.8"`) {
		t.Error("the pattern does not tell 1.5 from 1.6")
	}
}
