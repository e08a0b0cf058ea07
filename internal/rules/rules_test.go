package rules

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/facts"
	"github.com/edge-readiness/edge-readiness/internal/policy"
)

func decode(t *testing.T, doc string) *policy.Policy {
	t.Helper()
	p, err := policy.Decode([]byte(doc), checks.Specs(checks.All()))
	if err != nil {
		t.Fatalf("decoding %s: %v", doc, err)
	}
	return p
}

func rulePolicy(t *testing.T, scope, expr, msg string) *policy.Policy {
	t.Helper()
	r := map[string]string{"title": "a rule", "severity": "warning", "scope": scope, "expression": expr}
	if msg != "" {
		r["message"] = msg
	}
	var b strings.Builder
	fmt.Fprintf(&b, `{"rules":{"r1":{`)
	first := true
	for _, k := range []string{"title", "severity", "scope", "expression", "message"} {
		v, ok := r[k]
		if !ok {
			continue
		}
		if !first {
			b.WriteString(",")
		}
		first = false
		fmt.Fprintf(&b, "%q:%q", k, v)
	}
	b.WriteString("}}}")
	return decode(t, b.String())
}

// TestCompileRefuses: each refusal names the rule, the position and the reason.
func TestCompileRefuses(t *testing.T) {
	long := "module.name == '" + strings.Repeat("x", MaxExpression) + "'"
	for _, tc := range []struct {
		name, scope, expr, msg, want string
	}{
		{"syntax", "module", "module.name ==", "", "rules.r1.expression: line 1, column 15: Syntax error"},
		{"not bool", "module", "module.name", "", "rules.r1.expression: line 1, column 1: must evaluate to a bool, evaluates to string"},
		{"unknown field", "module", "module.image.registy == 'x'", "", "rules.r1.expression: line 1, column 13: undefined field 'registy'"},
		{"unknown variable", "device", "module.system", "", "rules.r1.expression: line 1, column 1: undeclared reference to 'module'"},
		{"second line", "module", "module.system ||\n  module.nam == 'x'", "", "rules.r1.expression: line 2, column 9: undefined field 'nam'"},
		{"too long", "module", long, "", fmt.Sprintf("rules.r1.expression: %d bytes, longer than the bound of %d", len(long), MaxExpression)},
		{"too costly", "device", "device.modules.all(a, device.modules.all(b, device.modules.all(c, a.env.all(k, b.labels.all(l, k != l)))))", "",
			"rules.r1.expression: line 1, column 1: estimated cost up to"},
		{"message not a string", "module", "true", "module.hostConfig.Memory > 0", "rules.r1.message: line 1, column 1: must evaluate to a string, evaluates to bool"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compile(rulePolicy(t, tc.scope, tc.expr, tc.msg))
			var perr *policy.Error
			if !errors.As(err, &perr) {
				t.Fatalf("Compile: err = %v, want a *policy.Error", err)
			}
			if len(perr.Problems) != 1 || !strings.HasPrefix(perr.Problems[0], tc.want) {
				t.Errorf("problems = %q, want one starting %q", perr.Problems, tc.want)
			}
		})
	}
}

// TestNoRulesNoEnvironment: a policy without rules builds no CEL environment.
func TestNoRulesNoEnvironment(t *testing.T) {
	before := envBuilds.Load()
	got, err := Compile(decode(t, `{"checks":{"disk-space":{"severity":"info"}}}`))
	if err != nil || got != nil {
		t.Fatalf("Compile = %v, %v; want nothing", got, err)
	}
	if envBuilds.Load() != before {
		t.Errorf("a policy without rules built the CEL environment")
	}
	if _, err := Compile(rulePolicy(t, "module", "true", "")); err != nil {
		t.Fatal(err)
	}
	if envBuilds.Load() != before+1 {
		t.Errorf("a policy with rules built %d environments, want 1", envBuilds.Load()-before)
	}
}

func module(name, image string, mod func(*facts.Container)) facts.Container {
	c := facts.Container{ID: name, Name: name, Image: image, State: facts.State{Status: "running", Running: true},
		Labels: map[string]string{facts.OwnerLabel: facts.OwnerValue, facts.OriginalImageLabel: image},
		Env:    map[string]string{"RuntimeLogLevel": "info"}, NetworkMode: "azure-iot-edge"}
	if mod != nil {
		mod(&c)
	}
	return c
}

func device() *facts.Snapshot {
	return &facts.Snapshot{
		Time:   time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC),
		Engine: &facts.Engine{ServerVersion: "25.0.5", OS: "linux", Arch: "x86_64", MemTotal: 4 << 30, NCPU: 4},
		Containers: []facts.Container{
			module("edgeAgent", "mcr.microsoft.com/azureiotedge-agent:1.6.8", nil),
			module("edgeHub", "mcr.microsoft.com/azureiotedge-hub:1.6.8", nil),
			module("filter", "contoso.azurecr.io/filter:1.0.4", func(c *facts.Container) { c.Memory = 256 << 20 }),
			module("camera", "docker.io/vendor/camera:latest", func(c *facts.Container) {
				c.Privileged, c.NetworkMode = true, "host"
				c.Mounts = []facts.Mount{{Type: "bind", Source: "/var/run/docker.sock", Destination: "/var/run/docker.sock", RW: true}}
			}),
		},
	}
}

func run(t *testing.T, p *policy.Policy, s *facts.Snapshot) map[string]checks.Finding {
	t.Helper()
	compiled, err := Compile(p)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]checks.Finding{}
	for _, f := range checks.Run(compiled, checks.Input{Snap: s, Self: "readiness"}, p) {
		out[f.ID+"/"+f.Module] = f
	}
	return out
}

// TestEvaluate: both sides of module and device rules, the message, a
// runtime error as an error finding, and fields a source does not hold.
func TestEvaluate(t *testing.T) {
	for _, tc := range []struct {
		name, scope, expr, msg string
		snap                   func() *facts.Snapshot
		want                   map[string]checks.Status // by module ("" device-wide)
		wantMsg                map[string]string
	}{
		{name: "registry", scope: "module", expr: "module.system || module.image.registry == 'contoso.azurecr.io'",
			msg: "'image ' + module.image.reference + ' is not ours'", snap: device,
			want:    map[string]checks.Status{"edgeAgent": checks.Pass, "edgeHub": checks.Pass, "filter": checks.Pass, "camera": checks.Fail},
			wantMsg: map[string]string{"camera": "image docker.io/vendor/camera:latest is not ours"}},
		{name: "memory", scope: "module", expr: "module.system || module.hostConfig.Memory >= 128 * 1024 * 1024", snap: device,
			want:    map[string]checks.Status{"edgeAgent": checks.Pass, "filter": checks.Pass, "camera": checks.Fail},
			wantMsg: map[string]string{"camera": "camera fails rule r1: a rule"}},
		{name: "socket", scope: "module", expr: "!module.hostConfig.Mounts.exists(m, m.Source == '/var/run/docker.sock' && !m.ReadOnly)", snap: device,
			want: map[string]checks.Status{"filter": checks.Pass, "camera": checks.Fail}},
		{name: "image parts", scope: "module", expr: "module.name != 'camera' || (module.image.registry == 'docker.io' && module.image.repository == 'vendor/camera' && module.image.tag == 'latest' && module.image.digest == '')",
			snap: device, want: map[string]checks.Status{"camera": checks.Pass}},
		{name: "device", scope: "device", expr: "device.modules.size() == 4 && device.runtime.release == '1.6' && device.host.memTotalBytes >= 2 * 1024 * 1024 * 1024 && device.now > timestamp('2026-01-01T00:00:00Z')",
			snap: device, want: map[string]checks.Status{"": checks.Pass}},
		{name: "device fails", scope: "device", expr: "device.engine.version.startsWith('26.')", snap: device, want: map[string]checks.Status{"": checks.Fail}},
		{name: "runtime error", scope: "module", expr: "module.env['MISSING'] == 'x'", snap: device,
			want:    map[string]checks.Status{"filter": checks.Error},
			wantMsg: map[string]string{"filter": "rule r1 could not be evaluated for filter: no such key: MISSING"}},
		{name: "status on a manifest", scope: "module", expr: "module.status == 'running'",
			snap:    func() *facts.Snapshot { s := device(); s.Deployment = &facts.Deployment{Path: "x.json"}; return s },
			want:    map[string]checks.Status{"": checks.Skip},
			wantMsg: map[string]string{"": "rule r1 reads module.status, which this source does not give: a deployment manifest does not hold the modules' state"}},
		{name: "restartPolicy on a device", scope: "module", expr: "module.restartPolicy == 'always'", snap: device,
			want: map[string]checks.Status{"": checks.Skip}},
		{name: "engine unreachable", scope: "device", expr: "device.engine.version != ''",
			snap: func() *facts.Snapshot { s := device(); s.Engine, s.DockerError = nil, "connection refused"; return s },
			want: map[string]checks.Status{"": checks.Error}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := run(t, rulePolicy(t, tc.scope, tc.expr, tc.msg), tc.snap())
			for mod, st := range tc.want {
				f, ok := got["r1/"+mod]
				if !ok {
					t.Fatalf("no finding for %q: %v", mod, got)
				}
				if f.Status != st {
					t.Errorf("%s: status %s (%s), want %s", mod, f.Status, f.Message, st)
				}
				if f.Section != Section || f.Title != "a rule" {
					t.Errorf("%s: section %q title %q", mod, f.Section, f.Title)
				}
				if w, ok := tc.wantMsg[mod]; ok && f.Message != w {
					t.Errorf("%s: message %q, want %q", mod, f.Message, w)
				}
				// An error's fix says what would let the rule decide.
				if want := "Correct the rule in the policy"; f.Status == checks.Error && strings.Contains(f.Message, "could not be evaluated") &&
					!strings.Contains(f.Remediation, want) {
					t.Errorf("%s: fix %q, want one holding %q", mod, f.Remediation, want)
				}
			}
		})
	}
}

// TestRuntimeCostLimit: an evaluation that exceeds the cost limit is an
// error finding for its subject, not a crash nor a pass.
func TestRuntimeCostLimit(t *testing.T) {
	if costLimit != MaxCost {
		t.Fatalf("programs are built with a cost limit of %d, want MaxCost (%d)", costLimit, MaxCost)
	}
	// The same stop at a hundredth of the limit: a hundredth of the steps.
	costLimit = MaxCost / 100
	t.Cleanup(func() { costLimit = MaxCost })
	s := device()
	big := map[string]string{}
	for i := range 400 {
		big[fmt.Sprintf("V%04d", i)] = "x"
	}
	s.Containers[2].Env, s.Containers[2].Labels = big, big
	s.Containers[2].Labels[facts.OwnerLabel] = facts.OwnerValue
	got := run(t, rulePolicy(t, "module", "module.env.all(a, module.labels.all(b, b != ''))", ""), s)
	f := got["r1/filter"]
	if f.Status != checks.Error || !strings.Contains(f.Message, "cost limit exceeded") {
		t.Errorf("filter: %s %q, want an error naming the cost limit", f.Status, f.Message)
	}
	if got["r1/camera"].Status != checks.Pass {
		t.Errorf("camera: %s %q, want pass", got["r1/camera"].Status, got["r1/camera"].Message)
	}
}

// TestSeverityAndExemption: rules take severity overrides and exemptions as checks do.
func TestSeverityAndExemption(t *testing.T) {
	p := decode(t, `{"rules":{"no-privileged":{"title":"No privileged module","severity":"critical","scope":"module",
		"expression":"!module.hostConfig.Privileged"}},
		"checks":{"no-privileged":{"severity":"warning"}},
		"exemptions":{"vendor":{"checks":["no-privileged"],"modules":["camera"],"reason":"the vendor's image needs it"}}}`)
	got := run(t, p, device())
	f := got["no-privileged/camera"]
	if f.Status != checks.Skip || f.Exemption != "vendor" || f.Severity != policy.Warning {
		t.Errorf("camera: %s exemption %q severity %s, want a skip by vendor at warning", f.Status, f.Exemption, f.Severity)
	}
	if got["no-privileged/filter"].Status != checks.Pass {
		t.Errorf("filter: %+v", got["no-privileged/filter"])
	}
}

// TestUnresolvedVariable: a manifest's unresolved image variable turns a rule
// reading the image into a skip naming the variable, as for catalog checks.
func TestUnresolvedVariable(t *testing.T) {
	s := device()
	s.Deployment = &facts.Deployment{Path: "deployment.template.json"}
	s.Containers[2].Unresolved = []facts.Unresolved{{Setting: facts.SettingImage, Field: "image", Var: "${MODULES.filter}"}}
	got := run(t, rulePolicy(t, "module", "module.image.registry == 'contoso.azurecr.io'", ""), s)
	if f := got["r1/filter"]; f.Status != checks.Skip || !strings.Contains(f.Message, "${MODULES.filter}") {
		t.Errorf("filter: %s %q, want a skip naming the variable", f.Status, f.Message)
	}
}

// TestViewsBuiltOncePerSnapshot: twenty rules share one view of a snapshot.
func TestViewsBuiltOncePerSnapshot(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"rules":{`)
	for i := range 20 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `"r%d":{"title":"t","severity":"warning","scope":"module","expression":"module.name != 'x%d'"}`, i, i)
	}
	b.WriteString("}}")
	p := decode(t, b.String())
	compiled, err := Compile(p)
	if err != nil {
		t.Fatal(err)
	}
	before := viewBuilds.Load()
	s := device()
	fs := checks.Run(compiled, checks.Input{Snap: s, Self: "readiness", History: nil}, p)
	if len(fs) != 20*4 {
		t.Errorf("%d findings, want 80", len(fs))
	}
	if n := viewBuilds.Load() - before; n != 1 {
		t.Errorf("views built %d times for one snapshot, want 1", n)
	}
}
