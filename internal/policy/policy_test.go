package policy_test

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/policy"
)

// specs is a small catalog for the decoder; the real one is tested in package checks.
var specs = []policy.CheckSpec{
	{ID: "disk-space", Severity: policy.Critical, Params: []policy.ParamSpec{
		{Name: "criticalFreeRatio", Kind: policy.Ratio, Default: 0.10},
		{Name: "warningFreeRatio", Kind: policy.Ratio, Default: 0.20},
	}},
	{ID: "container-engine-moby", Severity: policy.Critical},
	{ID: "modules-running", Severity: policy.Critical, Params: []policy.ParamSpec{
		{Name: "maxRestartsPerHour", Kind: policy.Int, Default: 3, Max: 1000},
	}},
	{ID: "edgehub-queue-backlog", Severity: policy.Warning, Params: []policy.ParamSpec{
		{Name: "growthCycles", Kind: policy.Int, Default: 3, Max: 6},
		{Name: "maxSkewSeconds", Kind: policy.Number, Default: 10.0, Max: 86400},
	}},
	{ID: "runtime-version-supported", Severity: policy.Critical, Params: []policy.ParamSpec{
		{Name: "supportedReleases", Kind: policy.StringList, Default: []string{"1.5"}},
		{Name: "lifecycle", Kind: policy.DateTable, Default: []string{"1.4=2024-11-12", "1.5=2026-11-10"},
			KeyPattern: regexp.MustCompile(`^\d+\.\d+$`), KeyDoc: "must name a release as major.minor such as 1.6"},
	}},
	{ID: "module-resource-limits", Severity: policy.Critical},
	{ID: "unused-volumes", Severity: policy.Warning, Helpful: true},
}

func TestLoadBadPolicies(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no bad policies found: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(strings.TrimSuffix(f, ".json") + ".err")
			if err != nil {
				t.Fatal(err)
			}
			_, err = policy.Decode(data, specs)
			var perr *policy.Error
			if !errors.As(err, &perr) {
				t.Fatalf("Decode(%s) error = %v, want a *policy.Error", data, err)
			}
			if len(perr.Problems) != 1 || perr.Problems[0] != strings.TrimSpace(string(want)) {
				t.Errorf("Decode(%s) problems =\n  %q\nwant\n  %q", data, perr.Problems, strings.TrimSpace(string(want)))
			}
		})
	}
}

// TestDateTableLaysOverDefaults: a lifecycle given by policy adds releases
// and moves dates; the default entries it does not name stay.
func TestDateTableLaysOverDefaults(t *testing.T) {
	p, err := policy.Decode([]byte(`{"checks":{"runtime-version-supported":{"params":{"lifecycle":["1.6=2028-11-14"," 1.5 = 2027-01-31"]}}}}`), specs)
	if err != nil {
		t.Fatal(err)
	}
	params := p.Checks["runtime-version-supported"].Params
	if got := strings.Join(params.Strings("lifecycle"), ","); got != "1.4=2024-11-12,1.5=2027-01-31,1.6=2028-11-14" {
		t.Errorf("lifecycle = %s", got)
	}
	d := params.Dates("lifecycle")
	if len(d) != 3 || !d["1.6"].Equal(time.Date(2028, 11, 14, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("Dates = %v", d)
	}
	def := policy.Default(specs).Checks["runtime-version-supported"].Params.Dates("lifecycle")
	if len(def) != 2 || !def["1.5"].Equal(time.Date(2026, 11, 10, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("default Dates = %v", def)
	}
}

func TestDecodeReportsEveryProblem(t *testing.T) {
	_, err := policy.Decode([]byte(`{"interval":"1s","checks":{"nope":{},"disk-space":{"severity":"x"}}}`), specs)
	var perr *policy.Error
	if !errors.As(err, &perr) {
		t.Fatalf("err = %v", err)
	}
	want := []string{
		`checks.disk-space.severity: must be one of critical, warning, info, off, got "x"`,
		`checks.nope: unknown check id`,
		`interval: must be at least 10s, got 1s`,
	}
	if strings.Join(perr.Problems, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems = %q, want %q", perr.Problems, want)
	}
	if !strings.HasPrefix(err.Error(), "invalid policy: checks.disk-space.severity") {
		t.Errorf("Error() = %q", err.Error())
	}
}

func TestDecodeFull(t *testing.T) {
	data, err := os.ReadFile("testdata/good/full.json")
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.Decode(data, specs)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if p.Interval != 2*time.Minute {
		t.Errorf("Interval = %v", p.Interval)
	}
	ds := p.Checks["disk-space"]
	if ds.Severity != policy.Warning || ds.Params.Float("criticalFreeRatio") != 0.05 || ds.Params.Float("warningFreeRatio") != 0.15 {
		t.Errorf("disk-space = %+v", ds)
	}
	if p.Checks["container-engine-moby"].Severity != policy.Off {
		t.Errorf("moby severity = %v", p.Checks["container-engine-moby"].Severity)
	}
	if got := p.Checks["runtime-version-supported"].Params.Strings("supportedReleases"); strings.Join(got, ",") != "1.5,1.4" {
		t.Errorf("supportedReleases = %v", got)
	}
	// Untouched checks keep their defaults.
	if mr := p.Checks["modules-running"]; mr.Severity != policy.Critical || mr.Params.Int("maxRestartsPerHour") != 3 {
		t.Errorf("modules-running = %+v", mr)
	}
	if len(p.Exemptions) != 1 {
		t.Fatalf("exemptions = %+v", p.Exemptions)
	}
	e := p.Exemptions[0]
	if e.Name != "legacy-sensor" || e.Reason == "" || !e.Matches("module-resource-limits", "legacy-sensor-2") ||
		e.Matches("module-resource-limits", "other") || e.Matches("disk-space", "legacy") {
		t.Errorf("exemption = %+v", e)
	}
	// A date-only expiry includes the whole day.
	if e.Expired(time.Date(2027, 1, 31, 23, 0, 0, 0, time.UTC)) || !e.Expired(time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("expiry = %v", e.Expires)
	}
	if p.Metrics.EdgeHub != "http://10.0.0.5:9600/metrics" || p.Metrics.EdgeAgent != policy.DefaultEdgeAgentMetric || !p.Metrics.Explicit {
		t.Errorf("metrics = %+v", p.Metrics)
	}
	if len(p.AllowEnv) != 1 || p.AllowEnv[0] != "LOG_LEVEL" {
		t.Errorf("allowEnv = %v", p.AllowEnv)
	}
}

func TestDefaults(t *testing.T) {
	p := policy.Default(specs)
	if p.Interval != policy.DefaultInterval || p.Profile != policy.ProfileProduction || p.Metrics.Explicit {
		t.Errorf("defaults = %+v", p)
	}
	for _, s := range specs {
		if p.Checks[s.ID].Severity != s.Severity {
			t.Errorf("%s severity = %v, want %v", s.ID, p.Checks[s.ID].Severity, s.Severity)
		}
	}
	if p.Checks["disk-space"].Params.Float("criticalFreeRatio") != 0.10 {
		t.Errorf("param default not applied")
	}
}

func TestDevelopmentProfile(t *testing.T) {
	p, err := policy.Decode([]byte(`{"profile":"development","checks":{"module-resource-limits":{"severity":"warning"}}}`), specs)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Checks["unused-volumes"].Severity; got != policy.Info {
		t.Errorf("helpful check in development = %v, want info", got)
	}
	if got := p.Checks["disk-space"].Severity; got != policy.Critical {
		t.Errorf("important check in development = %v, want critical", got)
	}
	// An explicit setting overrides the profile.
	if got := p.Checks["module-resource-limits"].Severity; got != policy.Warning {
		t.Errorf("explicit severity = %v, want warning", got)
	}
}

func TestExemptionWithoutModulesMatchesDeviceWide(t *testing.T) {
	e := policy.Exemption{Checks: []string{"disk-space"}, Reason: "r"}
	if !e.Matches("disk-space", "") || !e.Matches("disk-space", "any") || e.Matches("unused-volumes", "") {
		t.Error("an exemption without modules must cover every subject of its checks only")
	}
	withModules := policy.Exemption{Modules: []string{"*"}, Reason: "r"}
	if withModules.Matches("disk-space", "") {
		t.Error("a module pattern must not match device-wide findings")
	}
}

func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob("testdata/*/*.json")
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := policy.Decode(data, specs)
		if (p == nil) == (err == nil) {
			t.Fatalf("Decode returned policy %v and error %v", p, err)
		}
	})
}

// TestRulesJoinChecksAndExemptions: a rule is a check of its own for
// severity overrides and exemptions, and the caller's specs stay as they are.
func TestRulesJoinChecksAndExemptions(t *testing.T) {
	doc := `{"rules":{"approved-registry":{"title":"Our registry","severity":"critical","scope":"module",
		"expression":"module.image.registry == 'contoso.azurecr.io'","message":"'no'"}},
		"checks":{"approved-registry":{"severity":"info"}},
		"exemptions":{"lab":{"checks":["approved-registry"],"modules":["camera"],"reason":"vendor image"}}}`
	n := len(specs)
	p, err := policy.Decode([]byte(doc), specs)
	if err != nil {
		t.Fatal(err)
	}
	if len(specs) != n || cap(specs) != n {
		t.Errorf("Decode changed the caller's specs")
	}
	want := policy.Rule{ID: "approved-registry", Title: "Our registry", Severity: policy.Critical, Scope: policy.ScopeModule,
		Expression: "module.image.registry == 'contoso.azurecr.io'", Message: "'no'"}
	if len(p.Rules) != 1 || p.Rules[0] != want {
		t.Errorf("Rules = %+v, want %+v", p.Rules, want)
	}
	if got := p.Checks["approved-registry"].Severity; got != policy.Info {
		t.Errorf("severity override: got %q, want info", got)
	}
	if len(p.Exemptions) != 1 || !p.Exemptions[0].Matches("approved-registry", "camera") {
		t.Errorf("exemption of the rule: %+v", p.Exemptions)
	}
	// Without the rule, the same override is an unknown check id.
	if _, err := policy.Decode([]byte(`{"checks":{"approved-registry":{"severity":"info"}}}`), specs); err == nil ||
		!strings.Contains(err.Error(), "checks.approved-registry: unknown check id") {
		t.Errorf("override of an undefined rule: err = %v", err)
	}
}

// TestPolicyIsBounded: a document over MaxBytes is refused, naming the
// bound, before it is parsed; ReadFile stops reading after MaxBytes+1 bytes
// (/dev/zero used to grow to 1.7 GB) and names the file. A document just
// under the bound is read.
func TestPolicyIsBounded(t *testing.T) {
	big := []byte(`{"interval": "5m"` + strings.Repeat(" ", policy.MaxBytes) + `}`)
	_, err := policy.Decode(big, specs)
	var perr *policy.Error
	if !errors.As(err, &perr) || len(perr.Problems) != 1 || !strings.Contains(perr.Problems[0], "larger than 131072 bytes (128 KiB)") {
		t.Errorf("Decode(%d bytes) = %v, want one problem naming the bound", len(big), err)
	}
	fits := []byte(`{"interval": "5m"` + strings.Repeat(" ", policy.MaxBytes-20) + `}`)
	if p, err := policy.Decode(fits, specs); err != nil || p.Interval != 5*time.Minute {
		t.Errorf("Decode(%d bytes) = %v, want the policy", len(fits), err)
	}
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero")
	}
	_, err = policy.ReadFile("/dev/zero")
	if err == nil || !strings.HasPrefix(err.Error(), "/dev/zero: ") || !strings.Contains(err.Error(), "131072 bytes") {
		t.Errorf("ReadFile(/dev/zero) = %v, want an error naming the file and the bound", err)
	}
	name := filepath.Join(t.TempDir(), "p.json")
	if err := os.WriteFile(name, fits, 0o600); err != nil {
		t.Fatal(err)
	}
	if data, err := policy.ReadFile(name); err != nil || len(data) != len(fits) {
		t.Errorf("ReadFile(%d bytes) = %d bytes, %v; want the file", len(fits), len(data), err)
	}
}
