package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/edge-readiness/edge-readiness/internal/cli"
	"github.com/edge-readiness/edge-readiness/internal/report"
)

// TestCheckManifestNeverReadyWithUnresolvedVariables: the repository's
// template without its .env leaves variables unresolved; the report says
// incomplete (exit 3) in every format, names the variables and the flag
// that gives them, and scores below 100. With the .env it decides (exit 0).
func TestCheckManifestNeverReadyWithUnresolvedVariables(t *testing.T) {
	template := filepath.Join("..", "..", "deployment", "deployment.template.json")
	code, rep, errs := checkReport(t, "--manifest", template)
	if code != cli.ExitIncomplete || rep.Summary.Status != report.Incomplete {
		t.Fatalf("exit %d status %s, want %d %s\n%s", code, rep.Summary.Status, cli.ExitIncomplete, report.Incomplete, errs)
	}
	if rep.Summary.Score >= 100 || rep.Summary.Counts.Undecided == 0 {
		t.Errorf("score %d, undecided %d: a report that could not decide never scores 100", rep.Summary.Score, rep.Summary.Counts.Undecided)
	}
	if !slices.Contains(rep.Summary.Unresolved, "$CONTAINER_REGISTRY_ADDRESS") ||
		!strings.Contains(rep.Summary.Incomplete, "$CONTAINER_REGISTRY_ADDRESS") || !strings.Contains(rep.Summary.Incomplete, "--env-file") {
		t.Errorf("unresolved %q, line %q: want the variable and --env-file named", rep.Summary.Unresolved, rep.Summary.Incomplete)
	}
	undecided := 0
	for _, f := range rep.Findings {
		if len(f.Unresolved) > 0 {
			undecided++
			if f.Status != "skip" || !strings.Contains(f.Message, f.Unresolved[0]) {
				t.Errorf("%s %s: %s %q, want a skip naming %s", f.ID, f.Module, f.Status, f.Message, f.Unresolved[0])
			}
		}
	}
	if undecided < rep.Summary.Counts.Undecided {
		t.Errorf("%d findings name a variable, fewer than the %d undecided counted", undecided, rep.Summary.Counts.Undecided)
	}

	for format, want := range map[string][]string{
		"table": {"status: INCOMPLETE", "\nincomplete: ", "could not be decided", "$CONTAINER_REGISTRY_ADDRESS", "--env-file"},
		"junit": {`<property name="readiness" value="incomplete">`, `<property name="incomplete" value="`, `<property name="unresolved" value="`},
		"sarif": {`"readiness": "incomplete"`, `"toolExecutionNotifications"`, `"level": "error"`, "--env-file"},
	} {
		code, out, errs := runCheck(t, "--manifest", template, "--format", format)
		if code != cli.ExitIncomplete {
			t.Errorf("--format %s: exit %d, want %d\n%s", format, code, cli.ExitIncomplete, errs)
		}
		flat := strings.Join(strings.Fields(out), " ") // the table wraps its prose to the terminal
		for _, w := range want {
			if !strings.Contains(out, w) && !strings.Contains(flat, strings.TrimSpace(w)) {
				t.Errorf("--format %s lacks %q:\n%s", format, w, out)
			}
		}
		if strings.Contains(strings.ToLower(out), "status: ready") || strings.Contains(out, `"readiness": "ready"`) {
			t.Errorf("--format %s says ready", format)
		}
	}

	env := filepath.Join(t.TempDir(), ".env")
	if err := os.WriteFile(env, []byte("CONTAINER_REGISTRY_ADDRESS=contoso.azurecr.io\nCONTAINER_REGISTRY_USERNAME=contoso\n"+
		"CONTAINER_REGISTRY_PASSWORD=x\nDOCKER_GID=998\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, rep, _ = checkReport(t, "--manifest", template, "--env-file", env)
	if code != cli.ExitOK || rep.Summary.Status == report.Incomplete || rep.Summary.Incomplete != "" || len(rep.Summary.Unresolved) != 0 {
		t.Errorf("with the .env: exit %d status %s %q %q", code, rep.Summary.Status, rep.Summary.Incomplete, rep.Summary.Unresolved)
	}
	var raw map[string]any
	_, out, _ := runCheck(t, "--manifest", template, "--env-file", env, "--format", "json")
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		t.Fatal(err)
	}
	if _, ok := raw["summary"].(map[string]any)["incomplete"]; ok {
		t.Error("a decided report carries summary.incomplete")
	}
}
