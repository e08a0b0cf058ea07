package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edge-readiness/edge-readiness/internal/cli"
)

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := cli.Main(context.Background(), cli.Env{Args: args, Stdout: &out, Stderr: &errb,
		Getenv: func(string) string { return "" }, Environ: func() []string { return nil }})
	return code, out.String(), errb.String()
}

// TestExampleRules runs `rules test` over examples/rules, as CI does: every
// example rule gives the statuses its test files expect.
func TestExampleRules(t *testing.T) {
	files, err := filepath.Glob("../../examples/rules/*.test.json")
	if err != nil {
		t.Fatal(err)
	}
	policies, _ := filepath.Glob("../../examples/rules/*.policy.json")
	if len(policies) < 10 {
		t.Fatalf("%d example rules, want at least ten", len(policies))
	}
	for _, p := range policies {
		id := strings.TrimSuffix(filepath.Base(p), ".policy.json")
		tests, _ := filepath.Glob("../../examples/rules/" + id + ".*test.json")
		if len(tests) == 0 {
			t.Errorf("example rule %s has no test file", id)
		}
	}
	code, out, stderr := runCLI(t, append([]string{"rules", "test"}, files...)...)
	if code != cli.ExitOK {
		t.Fatalf("rules test: exit %d\n%s%s", code, out, stderr)
	}
	if want := "0 failed"; !strings.Contains(out, want) || strings.Count(out, ": ok (") != len(files) {
		t.Errorf("rules test output:\n%s", out)
	}
}

// TestRulesTestNamesTheDifference: one changed expected status makes
// `rules test` exit 1 and print the rule, the subject, both statuses.
func TestRulesTestNamesTheDifference(t *testing.T) {
	dir := t.TempDir()
	src, err := os.ReadFile("../../examples/rules/approved-registry.manifest.test.json")
	if err != nil {
		t.Fatal(err)
	}
	var test map[string]any
	if err := json.Unmarshal(src, &test); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs("../../examples/rules")
	test["policy"] = filepath.Join(abs, "approved-registry.policy.json")
	test["manifest"] = filepath.Join(abs, "deployment.template.json")
	test["expect"].(map[string]any)["approved-registry"].(map[string]any)["camera"] = "pass"
	b, _ := json.Marshal(test)
	path := filepath.Join(dir, "changed.test.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, _ := runCLI(t, "rules", "test", path)
	if code != cli.ExitNotReady {
		t.Errorf("exit %d, want %d\n%s", code, cli.ExitNotReady, out)
	}
	want := "approved-registry [camera]: want pass, got fail: image docker.io/vendor/camera:latest of camera is not from contoso.azurecr.io"
	if !strings.Contains(out, want) || !strings.Contains(out, "1 failed") {
		t.Errorf("output does not name the difference %q:\n%s", want, out)
	}
}

// TestRulesTestRefusesBadFiles: a test file that cannot run exits 2 with the reason.
func TestRulesTestRefusesBadFiles(t *testing.T) {
	dir := t.TempDir()
	for name, tc := range map[string]struct{ doc, want string }{
		"unknown key":  {`{"policy":"p.json","snapshot":"s.json","expect":{"r":{"device":"pass"}},"extra":1}`, `unknown field "extra"`},
		"two inputs":   {`{"policy":"p.json","snapshot":"s.json","manifest":"m.json","expect":{"r":{"device":"pass"}}}`, "give exactly one of snapshot, manifest, supportBundle"},
		"bad status":   {`{"policy":"p.json","snapshot":"s.json","expect":{"r":{"device":"passed"}}}`, `expect.r.device: must be one of pass, fail, skip, error, got "passed"`},
		"no such file": {`{"policy":"nope.json","snapshot":"s.json","expect":{"r":{"device":"pass"}}}`, "reading the policy"},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".test.json")
			if err := os.WriteFile(path, []byte(tc.doc), 0o600); err != nil {
				t.Fatal(err)
			}
			code, out, _ := runCLI(t, "rules", "test", path)
			if code != cli.ExitUsage || !strings.Contains(out, tc.want) {
				t.Errorf("exit %d, output %q; want exit 2 naming %q", code, out, tc.want)
			}
		})
	}
}

// TestCheckRefusesBadRule: check --policy with a rule that does not compile
// exits 2 naming the rule, the position and the reason.
func TestCheckRefusesBadRule(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.json")
	doc := `{"rules":{"approved-registry":{"title":"t","severity":"critical","scope":"module","expression":"module.image.registy == 'x'"}}}`
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, "check", "--snapshot", "../../examples/gateway.snapshot.json", "--policy", path)
	want := "rules.approved-registry.expression: line 1, column 13: undefined field 'registy'"
	if code != cli.ExitUsage || !strings.Contains(stderr, want) {
		t.Errorf("exit %d, stderr %q; want exit 2 naming %q", code, stderr, want)
	}
}

// TestRuleInEveryFormat: a rule's finding is in the JSON report and the
// JUnit test cases, and SARIF has a rule for it, as for a catalog check.
func TestRuleInEveryFormat(t *testing.T) {
	policy := "../../examples/rules/approved-registry.policy.json"
	args := []string{"check", "--manifest", "../../examples/rules/deployment.template.json", "--policy", policy, "--format"}
	_, out, _ := runCLI(t, append(args, "sarif")...)
	var sarif struct {
		Runs []struct {
			Tool struct {
				Driver struct {
					Rules []struct{ ID string } `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Results []struct {
				RuleID  string                `json:"ruleId"`
				Message struct{ Text string } `json:"message"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal([]byte(out), &sarif); err != nil || len(sarif.Runs) != 1 {
		t.Fatalf("sarif: %v\n%s", err, out)
	}
	hasRule, hasResult := false, false
	for _, r := range sarif.Runs[0].Tool.Driver.Rules {
		hasRule = hasRule || r.ID == "approved-registry"
	}
	for _, r := range sarif.Runs[0].Results {
		hasResult = hasResult || (r.RuleID == "approved-registry" && strings.Contains(r.Message.Text, "camera"))
	}
	if !hasRule || !hasResult {
		t.Errorf("sarif: rule %v, result %v", hasRule, hasResult)
	}
	_, out, _ = runCLI(t, append(args, "junit")...)
	if !strings.Contains(out, `approved-registry [camera]`) || !strings.Contains(out, "User rules") {
		t.Errorf("junit has no test case of the rule:\n%.2000s", out)
	}
	_, out, _ = runCLI(t, append(args, "table")...)
	if !strings.Contains(out, "approved-registry") {
		t.Errorf("table has no line of the rule")
	}
}

// TestRuleMessageScrubbed: a rule message that quotes a secret's value is
// scrubbed like every output.
func TestRuleMessageScrubbed(t *testing.T) {
	dir := t.TempDir()
	const secret = "Zq8vN3rT5yX1wP7kL2mB9cD4"
	manifest := `{"modulesContent":{"$edgeAgent":{"properties.desired":{"schemaVersion":"1.1","runtime":{"type":"docker","settings":{}},
		"systemModules":{"edgeAgent":{"type":"docker","settings":{"image":"mcr.microsoft.com/azureiotedge-agent:1.6.8"}},
		"edgeHub":{"type":"docker","status":"running","restartPolicy":"always","settings":{"image":"mcr.microsoft.com/azureiotedge-hub:1.6.8"}}},
		"modules":{"filter":{"type":"docker","status":"running","restartPolicy":"always","settings":{"image":"contoso.azurecr.io/filter:1.0.4"},
		"env":{"API_TOKEN":{"value":"` + secret + `"}}}}}},
		"$edgeHub":{"properties.desired":{"schemaVersion":"1.2","routes":{},"storeAndForwardConfiguration":{"timeToLiveSecs":7200}}}}}`
	policy := `{"rules":{"leaky":{"title":"leaks","severity":"warning","scope":"module","expression":"module.system",
		"message":"module.name + ' has token ' + (has(module.env.API_TOKEN) ? module.env.API_TOKEN : 'none')"}}}`
	for name, doc := range map[string]string{"m.json": manifest, "p.json": policy} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, format := range []string{"json", "table", "sarif", "junit"} {
		_, out, stderr := runCLI(t, "check", "--manifest", filepath.Join(dir, "m.json"), "--policy", filepath.Join(dir, "p.json"), "--format", format)
		if !strings.Contains(out, "filter has token") {
			t.Fatalf("%s: no message of the rule\n%s%s", format, out, stderr)
		}
		if strings.Contains(out, secret) || strings.Contains(stderr, secret) {
			t.Errorf("%s: the secret's value left in the output", format)
		}
	}
}
