package checks_test

import (
	"strings"
	"testing"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/facts"
	"github.com/edge-readiness/edge-readiness/internal/policy"
)

// testCheck builds a check that is not in the catalog.
func testCheck(id string, sev policy.Severity, needs []facts.Fact, eval func(*checks.Input) []checks.Result) *checks.Check {
	return &checks.Check{
		Meta: checks.Meta{ID: id, Title: "test check " + id, Section: checks.SecSecurity, Seed: "test", Severity: sev,
			Decides: "test", Remediation: "test", Reference: "https://example.com", Needs: needs},
		Eval: eval,
	}
}

func only(t *testing.T, fs []checks.Finding) checks.Finding {
	t.Helper()
	if len(fs) != 1 {
		t.Fatalf("want exactly one finding, got %d:\n%s", len(fs), dump(fs))
	}
	return fs[0]
}

func TestRunSeverityOff(t *testing.T) {
	s := goodDevice(t)
	s.Engine = nil // a disabled check does not even look at its facts
	s.DockerError = "engine down"
	pol := decodePolicy(t, `{"checks":{"modules-running":{"severity":"off"}}}`)
	f := only(t, byID(runAll(s, pol), "modules-running"))
	if f.Status != checks.Skip || f.Severity != policy.Off || f.Message != "disabled by policy (severity off)" {
		t.Errorf("got %s [%s] %q, want skip [off] \"disabled by policy (severity off)\"", f.Status, f.Severity, f.Message)
	}
	if f.Module != "" || f.Subject != "" || f.Title == "" || f.Remediation == "" {
		t.Errorf("the finding should be device-wide and carry the check's metadata: %+v", f)
	}
	if f.Counts() {
		t.Error("a disabled check counts against readiness")
	}
}

func TestRunMissingDocker(t *testing.T) {
	s := goodDevice(t)
	s.Engine = nil
	s.DockerError = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"
	fs := runAll(s, decodePolicy(t, ""))
	for _, c := range checks.All() {
		got := byID(fs, c.ID)
		needsDocker := false
		for _, n := range c.Needs {
			needsDocker = needsDocker || n == checks.NeedContainers || n == checks.NeedEngine
		}
		if !needsDocker {
			continue
		}
		f := only(t, got)
		if f.Status != checks.Error {
			t.Errorf("%s: status %s, want error", c.ID, f.Status)
		}
		if want := "cannot decide without the Docker engine: " + s.DockerError; f.Message != want {
			t.Errorf("%s: message %q, want %q", c.ID, f.Message, want)
		}
		if f.Severity != c.Severity {
			t.Errorf("%s: severity %s, want the policy's %s", c.ID, f.Severity, c.Severity)
		}
		// An error counts like a failure: against readiness for critical and
		// warning checks, never for info checks.
		if want := c.Severity == policy.Critical || c.Severity == policy.Warning; f.Counts() != want {
			t.Errorf("%s: an error of a %s check counts=%v, want %v", c.ID, f.Severity, f.Counts(), want)
		}
	}
	// Checks that do not need Docker still run.
	if f := only(t, byID(fs, "disk-space")); f.Status != checks.Pass {
		t.Errorf("disk-space: %s %q, want pass", f.Status, f.Message)
	}
}

func TestRunNeedsBothMetrics(t *testing.T) {
	c := testCheck("needs-metrics", policy.Warning, []facts.Fact{checks.NeedEdgeAgentStats, checks.NeedEdgeHubStats},
		func(*checks.Input) []checks.Result { return []checks.Result{{Status: checks.Pass, Message: "ok"}} })
	s := goodDevice(t)
	s.Metrics[facts.EdgeAgent].Error = "reading metrics from http://edgeAgent:9600/metrics: HTTP status 503 Service Unavailable"
	delete(s.Metrics, facts.EdgeHub)
	f := only(t, checks.Run([]*checks.Check{c}, checks.Input{Snap: s}, decodePolicy(t, "")))
	want := "cannot decide without edgeAgent metrics: reading metrics from http://edgeAgent:9600/metrics: HTTP status 503 Service Unavailable; edgeHub metrics: not scraped"
	if f.Status != checks.Error || f.Message != want {
		t.Errorf("got %s %q, want error %q", f.Status, f.Message, want)
	}
}

func TestRunPanicIsolated(t *testing.T) {
	boom := testCheck("boom", policy.Critical, nil, func(in *checks.Input) []checks.Result {
		var m map[string]int
		m["x"]++ //nolint:staticcheck // SA5000: the panic is the point, the runner must isolate it
		return nil
	})
	after := testCheck("after", policy.Warning, nil, func(*checks.Input) []checks.Result {
		return []checks.Result{{Module: "filter", Status: checks.Pass, Message: "still ran"}}
	})
	fs := checks.Run([]*checks.Check{boom, after}, checks.Input{Snap: goodDevice(t)}, decodePolicy(t, ""))
	f := only(t, byID(fs, "boom"))
	if f.Status != checks.Error || !strings.HasPrefix(f.Message, "check failed internally: assignment to entry in nil map") {
		t.Errorf("got %s %q, want an internal error", f.Status, f.Message)
	}
	if f.Severity != policy.Critical || !f.Counts() {
		t.Errorf("severity %s, counts %v: an internal error of a critical check must count", f.Severity, f.Counts())
	}
	if g := only(t, byID(fs, "after")); g.Status != checks.Pass || g.Message != "still ran" {
		t.Errorf("the next check did not run normally: %+v", g)
	}
}

func TestRunNoResultsIsSkip(t *testing.T) {
	c := testCheck("empty", policy.Warning, nil, func(*checks.Input) []checks.Result { return nil })
	f := only(t, checks.Run([]*checks.Check{c}, checks.Input{Snap: goodDevice(t)}, decodePolicy(t, "")))
	if f.Status != checks.Skip || f.Message != "nothing to check" {
		t.Errorf("got %s %q, want skip \"nothing to check\"", f.Status, f.Message)
	}
}

func TestRunParamsReachTheCheck(t *testing.T) {
	spec := policy.ParamSpec{Name: "limit", Kind: policy.Int, Default: 7}
	var seen []int
	c := testCheck("params", policy.Warning, nil, func(in *checks.Input) []checks.Result {
		seen = append(seen, in.Params.Int("limit"))
		return []checks.Result{{Status: checks.Pass, Message: "ok"}}
	})
	c.Params = []policy.ParamSpec{spec}
	all := []*checks.Check{c}
	checks.Run(all, checks.Input{Snap: goodDevice(t)}, policy.Default(checks.Specs(all)))
	pol, err := policy.Decode([]byte(`{"checks":{"params":{"params":{"limit":2}}}}`), checks.Specs(all))
	if err != nil {
		t.Fatal(err)
	}
	checks.Run(all, checks.Input{Snap: goodDevice(t)}, pol)
	// A policy that does not know the check (decoded for another catalog): the check's own defaults.
	checks.Run(all, checks.Input{Snap: goodDevice(t)}, decodePolicy(t, ""))
	if len(seen) != 3 || seen[0] != 7 || seen[1] != 2 || seen[2] != 7 {
		t.Errorf("limit seen as %v, want [7 2 7]", seen)
	}
}

func TestRunSeverityNeverRaised(t *testing.T) {
	c := testCheck("sev", policy.Warning, nil, func(*checks.Input) []checks.Result {
		return []checks.Result{
			{Module: "a", Status: checks.Fail, Message: "asks for critical", Severity: policy.Critical},
			{Module: "b", Status: checks.Fail, Message: "asks for info", Severity: policy.Info},
			{Module: "c", Status: checks.Fail, Message: "asks for nothing"},
		}
	})
	fs := checks.Run([]*checks.Check{c}, checks.Input{Snap: goodDevice(t)}, decodePolicy(t, ""))
	want := map[string]policy.Severity{"a": policy.Warning, "b": policy.Info, "c": policy.Warning}
	for _, f := range fs {
		if f.Severity != want[f.Module] {
			t.Errorf("module %s: severity %s, want %s", f.Module, f.Severity, want[f.Module])
		}
	}
	if len(fs) != 3 {
		t.Fatalf("got %d findings, want 3", len(fs))
	}
	// The same through a real check: disk-space at 5% under a policy of info stays info.
	s := goodDevice(t)
	setSample(s, facts.EdgeAgent, availDisk, 0.05*float64(64*gib))
	f := only(t, byID(runAll(s, decodePolicy(t, `{"checks":{"disk-space":{"severity":"info"}}}`)), "disk-space"))
	if f.Status != checks.Fail || f.Severity != policy.Info || f.Counts() {
		t.Errorf("disk-space: %s [%s] counts=%v, want fail [info] not counted", f.Status, f.Severity, f.Counts())
	}
}

func TestExemptions(t *testing.T) {
	// The good device with sensor lacking limits and a second unused volume.
	broken := func() *facts.Snapshot {
		s := goodDevice(t)
		mod(s, "sensor").Memory = 0
		mod(s, "filter").Memory = 0
		s.Volumes = append(s.Volumes, facts.Volume{Name: "old-cache", Driver: "local", Size: gib, RefCount: 0})
		return s
	}
	const limits, volumes = "module-resource-limits", "unused-volumes"
	find := func(fs []checks.Finding, id, module string) checks.Finding {
		t.Helper()
		for _, f := range byID(fs, id) {
			if f.Module == module {
				return f
			}
		}
		t.Fatalf("no %s finding for %q:\n%s", id, module, dump(fs))
		return checks.Finding{}
	}

	t.Run("check id and module glob", func(t *testing.T) {
		pol := decodePolicy(t, `{"exemptions":{"vendor-sensor":{"checks":["module-resource-limits"],"modules":["sens*"],
			"reason":"vendor image; limits are set by the host's systemd slice","expires":"2099-12-31"}}}`)
		fs := runAll(broken(), pol)
		f := find(fs, limits, "sensor")
		if f.Status != checks.Skip || f.Exemption != "vendor-sensor" {
			t.Errorf("sensor: %s exemption %q, want skip by vendor-sensor", f.Status, f.Exemption)
		}
		if want := "exempted by policy (vendor-sensor): vendor image; limits are set by the host's systemd slice"; f.Message != want {
			t.Errorf("message %q, want %q", f.Message, want)
		}
		if f.Evidence["statusWithoutExemption"] != "fail" {
			t.Errorf("evidence statusWithoutExemption = %v, want fail", f.Evidence["statusWithoutExemption"])
		}
		if m, _ := f.Evidence["exemptionMessage"].(string); !strings.Contains(m, "sensor has no memory limit") {
			t.Errorf("evidence exemptionMessage = %q, want the original message", m)
		}
		if f.Counts() {
			t.Error("an exempted finding counts")
		}
		// The glob does not reach filter, and the check id does not reach other checks.
		if g := find(fs, limits, "filter"); g.Status != checks.Fail || g.Exemption != "" {
			t.Errorf("filter: %s exemption %q, want an unexempted fail", g.Status, g.Exemption)
		}
		if g := only(t, byID(fs, volumes)); g.Status != checks.Fail {
			t.Errorf("unused-volumes: %s, want fail", g.Status)
		}
	})

	t.Run("expired", func(t *testing.T) {
		pol := decodePolicy(t, `{"exemptions":{"vendor-sensor":{"checks":["module-resource-limits"],"modules":["sensor"],
			"reason":"until the vendor ships limits","expires":"2025-05-31"}}}`)
		f := find(runAll(broken(), pol), limits, "sensor")
		if f.Status != checks.Fail || f.Exemption != "" {
			t.Errorf("got %s exemption %q, want an unexempted fail", f.Status, f.Exemption)
		}
		if !strings.HasPrefix(f.Message, "sensor has no memory limit") ||
			!strings.Contains(f.Message, "[exemption no longer applies: vendor-sensor (expired 2025-06-01T00:00:00Z)]") {
			t.Errorf("message %q should keep the failure and say the exemption expired", f.Message)
		}
		if !f.Counts() {
			t.Error("a fail under an expired exemption must count")
		}
	})

	t.Run("expiry day is included", func(t *testing.T) {
		pol := decodePolicy(t, `{"exemptions":{"vendor-sensor":{"modules":["sensor"],"reason":"r","expires":"2025-06-01"}}}`)
		if f := find(runAll(broken(), pol), limits, "sensor"); f.Status != checks.Skip {
			t.Errorf("got %s, want skip on the last day of the exemption", f.Status)
		}
	})

	t.Run("without modules it covers device-wide findings", func(t *testing.T) {
		pol := decodePolicy(t, `{"exemptions":{"volumes":{"checks":["unused-volumes"],"reason":"kept for rollback"}}}`)
		f := only(t, byID(runAll(broken(), pol), volumes))
		if f.Status != checks.Skip || f.Exemption != "volumes" || f.Evidence["statusWithoutExemption"] != "fail" {
			t.Errorf("got %s exemption %q evidence %v, want skip by volumes", f.Status, f.Exemption, f.Evidence)
		}
		if _, ok := f.Evidence["unusedVolumes"]; !ok {
			t.Error("the check's own evidence was lost")
		}
	})

	t.Run("with modules it does not cover device-wide findings", func(t *testing.T) {
		pol := decodePolicy(t, `{"exemptions":{"all":{"modules":["*"],"reason":"lab device"}}}`)
		fs := runAll(broken(), pol)
		if f := only(t, byID(fs, volumes)); f.Status != checks.Fail {
			t.Errorf("unused-volumes: %s, want fail (a module pattern does not match device-wide findings)", f.Status)
		}
		if f := find(fs, limits, "filter"); f.Status != checks.Skip || f.Exemption != "all" {
			t.Errorf("filter: %s exemption %q, want skip by all", f.Status, f.Exemption)
		}
	})

	t.Run("a skip stays a plain skip", func(t *testing.T) {
		pol := decodePolicy(t, `{"exemptions":{"hub":{"checks":["edgehub-optimize-for-performance"],"reason":"r"}}}`)
		f := only(t, byID(runAll(broken(), pol), "edgehub-optimize-for-performance"))
		if f.Status != checks.Skip || f.Exemption != "" || !strings.Contains(f.Message, "not constrained") {
			t.Errorf("got %s exemption %q %q, want the check's own skip", f.Status, f.Exemption, f.Message)
		}
	})

	t.Run("a disabled check is not exempted", func(t *testing.T) {
		pol := decodePolicy(t, `{"checks":{"unused-volumes":{"severity":"off"}},"exemptions":{"v":{"checks":["unused-volumes"],"reason":"r"}}}`)
		f := only(t, byID(runAll(broken(), pol), volumes))
		if f.Status != checks.Skip || f.Exemption != "" || f.Message != "disabled by policy (severity off)" {
			t.Errorf("got %s exemption %q %q", f.Status, f.Exemption, f.Message)
		}
	})
}

func TestFindingCounts(t *testing.T) {
	for _, tc := range []struct {
		status checks.Status
		sev    policy.Severity
		want   bool
	}{
		{checks.Fail, policy.Critical, true},
		{checks.Fail, policy.Warning, true},
		{checks.Fail, policy.Info, false},
		{checks.Fail, policy.Off, false},
		{checks.Error, policy.Critical, true},
		{checks.Error, policy.Warning, true},
		{checks.Error, policy.Info, false},
		{checks.Pass, policy.Critical, false},
		{checks.Skip, policy.Critical, false},
		{checks.Skip, policy.Off, false},
	} {
		f := checks.Finding{Status: tc.status, Severity: tc.sev}
		if got := f.Counts(); got != tc.want {
			t.Errorf("%s at %s: Counts() = %v, want %v", tc.status, tc.sev, got, tc.want)
		}
	}
}

func TestFindingKey(t *testing.T) {
	f := checks.Finding{ID: "disk-space", Subject: "sda1"}
	g := checks.Finding{ID: "modules-running", Module: "filter"}
	if f.Key() != "disk-space//sda1" || g.Key() != "modules-running/filter/" {
		t.Errorf("keys %q %q", f.Key(), g.Key())
	}
}

// TestRunUninspectedModule: a module whose inspect failed (the engine
// answered 500 for it) gets an error from every check that needs the
// containers, so it counts in the summary and the score instead of
// silently dropping out; checks that need only the engine or metrics are
// unaffected, and the other modules are decided as usual.
func TestRunUninspectedModule(t *testing.T) {
	good := goodDevice(t)
	s := goodDevice(t)
	var victim string
	for i := range s.Containers {
		c := &s.Containers[i]
		if c.IsModule() && !c.IsSystemModule() {
			victim = c.Name
			*c = facts.Container{ID: c.ID, Name: c.Name, Image: c.Image, Labels: c.Labels, State: facts.State{Status: "running", Running: true},
				InspectError: "inspecting container " + c.Name + ": Error response from daemon: 500"}
			break
		}
	}
	if victim == "" {
		t.Fatal("the good device has no custom module")
	}
	pol := decodePolicy(t, "")
	before, after := runAll(good, pol), runAll(s, pol)
	for _, c := range checks.All() {
		needs := false
		for _, n := range c.Needs {
			needs = needs || n == checks.NeedContainers
		}
		var mine []checks.Finding
		for _, f := range byID(after, c.ID) {
			if f.Module == victim {
				mine = append(mine, f)
			}
		}
		if !needs {
			if len(byID(after, c.ID)) != len(byID(before, c.ID)) {
				t.Errorf("%s needs no containers but its findings changed", c.ID)
			}
			continue
		}
		if len(mine) != 1 || mine[0].Status != checks.Error ||
			!strings.Contains(mine[0].Message, "cannot decide for "+victim+" without its configuration: inspecting container "+victim) {
			t.Errorf("%s: findings for %s = %+v, want one error naming the failed inspect", c.ID, victim, mine)
		}
	}
	if got := byID(after, "privileged-containers"); len(got) == 0 {
		t.Fatal("no privileged-containers findings")
	}
}
