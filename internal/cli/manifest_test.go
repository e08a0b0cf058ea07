package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/cli"
	"github.com/edge-readiness/edge-readiness/internal/report"
)

// findingsOf returns the report's findings of one check.
func findingsOf(rep *report.Report, id string) []checks.Finding {
	var out []checks.Finding
	for _, f := range rep.Findings {
		if f.ID == id {
			out = append(out, f)
		}
	}
	return out
}

func checkReport(t *testing.T, args ...string) (int, *report.Report, string) {
	t.Helper()
	code, out, errs := runCheck(t, append(args, "--format", "json")...)
	var rep report.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("exit %d, not a report: %v\n%s\n%s", code, err, out, errs)
	}
	return code, &rep, errs
}

// TestCheckManifest: check --manifest lints the repository's own template
// with its .env and module.json as the tooling resolves them; no engine is read.
func TestCheckManifest(t *testing.T) {
	dir := t.TempDir()
	env := filepath.Join(dir, ".env")
	if err := os.WriteFile(env, []byte("CONTAINER_REGISTRY_ADDRESS=contoso.azurecr.io\nCONTAINER_REGISTRY_USERNAME=contoso\n"+
		"CONTAINER_REGISTRY_PASSWORD=not-in-any-output\nDOCKER_GID=998\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	template := filepath.Join("..", "..", "deployment", "deployment.template.json")
	code, rep, errs := checkReport(t, "--manifest", template, "--env-file", env)
	if strings.Contains(errs, "nonexistent") {
		t.Errorf("a manifest run touched the engine: %s", errs)
	}
	if rep.Device.RuntimeMode != "manifest" || rep.Device.Manifest != template || rep.Engine != nil {
		t.Errorf("device %+v engine %+v", rep.Device, rep.Engine)
	}
	for _, id := range []string{"schema-version-supported", "create-options-valid", "routes-valid", "manifest-secrets",
		"image-tags-pinned", "module-resource-limits", "docker-socket-mounts"} {
		for _, f := range findingsOf(rep, id) {
			if f.Status != checks.Pass && f.Exemption == "" {
				t.Errorf("%s %s: %s %q", id, f.Module, f.Status, f.Message)
			}
			if f.Location == nil || f.Location.URI != filepath.ToSlash(template) {
				t.Errorf("%s %s: location %+v", id, f.Module, f.Location)
			}
		}
	}
	if fs := findingsOf(rep, "image-tags-pinned"); len(fs) != 3 || !strings.Contains(fs[2].Message, "0.1.0-amd64") {
		t.Errorf("the module's image from module.json: %+v", fs)
	}
	if fs := findingsOf(rep, "modules-running"); len(fs) != 1 || fs[0].Status != checks.Skip || !strings.Contains(fs[0].Message, "needs a device") {
		t.Errorf("modules-running: %+v", fs)
	}
	if code != cli.ExitOK && code != cli.ExitNotReady {
		t.Errorf("exit %d", code)
	}
	// Without the env file, the variables stay: the checks that read them
	// skip; ${DOCKER_GID} sits in HostConfig.GroupAdd, which the limits do
	// not read, but create-options-valid reads all of createOptions.
	_, rep, _ = checkReport(t, "--manifest", template)
	if fs := findingsOf(rep, "module-resource-limits"); len(fs) != 3 || fs[2].Status != checks.Pass {
		t.Errorf("limits beside a variable in GroupAdd: %+v", fs)
	}
	skipped := false
	for _, f := range findingsOf(rep, "create-options-valid") {
		skipped = skipped || (f.Module == "readiness" && f.Status == checks.Skip &&
			strings.Contains(f.Message, "at HostConfig.GroupAdd holds ${DOCKER_GID}"))
	}
	if !skipped {
		t.Errorf("unresolved: %+v", findingsOf(rep, "create-options-valid"))
	}
	for _, f := range []string{"table", "junit", "sarif"} {
		code, out, errs := runCheck(t, "--manifest", template, "--env-file", env, "--format", f)
		if code == cli.ExitUsage || out == "" || strings.Contains(out+errs, "not-in-any-output") {
			t.Errorf("--format %s: exit %d\n%s%s", f, code, out, errs)
		}
	}
}

// TestCheckManifestModulesDir: ${MODULES.x} resolves from --modules-dir for --platform.
func TestCheckManifestModulesDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "modules", "filter"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "modules", "filter", "module.json"), []byte(`{"image":{"repository":"contoso/filter",
		"tag":{"version":"2.0.0","platforms":{"amd64":"Dockerfile","arm64v8":"Dockerfile.arm64v8"}}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	m := filepath.Join(dir, "deployment.template.json")
	if err := os.WriteFile(m, []byte(`{"modulesContent":{"$edgeAgent":{"properties.desired":{"schemaVersion":"1.1",
		"modules":{"filter":{"settings":{"image":"${MODULES.filter}"}}}}},"$edgeHub":{"properties.desired":{"schemaVersion":"1.1"}}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, rep, _ := checkReport(t, "--manifest", m, "--modules-dir", filepath.Join(dir, "modules"), "--platform", "arm64v8")
	if fs := findingsOf(rep, "image-tags-pinned"); len(fs) != 1 || fs[0].Status != checks.Pass || !strings.Contains(fs[0].Message, "2.0.0-arm64v8") {
		t.Errorf("image-tags-pinned: %+v", fs)
	}
	_, rep, _ = checkReport(t, "--manifest", m)
	if fs := findingsOf(rep, "image-tags-pinned"); len(fs) != 1 || fs[0].Status != checks.Skip || !strings.Contains(fs[0].Message, "--modules-dir") {
		t.Errorf("without --modules-dir: %+v", fs)
	}
}

// TestCheckManifestUsage: a bad manifest, or --manifest with what it
// cannot go with, exits 2 naming the problem.
func TestCheckManifestUsage(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"modulesContent":{"$edgeAgent":{"properties.desired":{"modules":{"m":{"settings":"x"}}}}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--manifest", bad}, "check: manifest " + bad + ": modulesContent.$edgeAgent.properties.desired.modules.m.settings (line 1): want an object, found a string"},
		{[]string{"--manifest", filepath.Join(dir, "none.json")}, "check: reading the manifest: open"},
		{[]string{"--manifest", bad, "--snapshot", bad}, "check: --manifest and --snapshot cannot be used together"},
		{[]string{"--manifest", bad, "--save-snapshot", filepath.Join(dir, "s.json")}, "check: --manifest and --save-snapshot cannot be used together"},
		{[]string{"--manifest", bad, "--support-bundle", bad}, "check: --manifest and --support-bundle cannot be used together"},
		{[]string{"--env-file", bad}, "check: --env-file and --modules-dir go with --manifest"},
		{[]string{"--manifest", bad, "--env-file", filepath.Join(dir, "none.env")}, "check: reading the env file: open"},
	} {
		code, out, errs := runCheck(t, c.args...)
		if code != cli.ExitUsage || !strings.HasPrefix(errs, c.want) || out != "" {
			t.Errorf("%q: exit %d, stderr %q, want 2 and %q", c.args, code, errs, c.want)
		}
	}
}
