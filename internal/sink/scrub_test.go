package sink_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/redact"
	"github.com/edge-readiness/edge-readiness/internal/report"
	"github.com/edge-readiness/edge-readiness/internal/sink"
)

func scrubberKnowing(secrets ...string) *redact.Scrubber {
	s := redact.NewScrubber()
	env := map[string]string{}
	for i, v := range secrets {
		env["SECRET_"+string(rune('A'+i))] = v
	}
	s.AddEnv(redact.NewPolicy(nil), env)
	return s
}

func TestScrubReachesEveryString(t *testing.T) {
	const secret = "p&ss<w0rd>\"quoted\""
	s := scrubberKnowing(secret)
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	in := &report.Report{
		GeneratedAt: at,
		Device:      report.Device{DeviceID: "dev " + secret},
		Engine:      &report.Engine{ServerVersion: secret, NCPU: 4},
		Inventory:   report.Inventory{Modules: []report.Module{{Name: "m", Image: secret}}, SourceErrors: []string{secret}},
		Findings: []checks.Finding{{ID: "x", Status: checks.Fail, Message: "has " + secret,
			Evidence: map[string]any{secret: 1, "list": []string{secret}, "nested": map[string]any{"v": secret, "n": math.NaN()},
				"any": []any{secret, 3}, "big": int64(1) << 60}}},
		Notes: []string{secret},
	}
	out := sink.Scrub(s, in)

	if out == in || out.Engine == in.Engine || &out.Findings[0] == &in.Findings[0] {
		t.Fatal("Scrub returned shared pointers, not a copy")
	}
	check := func(what, got string) {
		t.Helper()
		if got == "" || strings.Contains(got, "w0rd") {
			t.Errorf("%s = %q", what, got)
		}
	}
	check("device", out.Device.DeviceID)
	check("engine", out.Engine.ServerVersion)
	check("image", out.Inventory.Modules[0].Image)
	check("source error", out.Inventory.SourceErrors[0])
	check("message", out.Findings[0].Message)
	check("note", out.Notes[0])
	ev := out.Findings[0].Evidence
	check("evidence list", ev["list"].([]string)[0])
	check("evidence nested", ev["nested"].(map[string]any)["v"].(string))
	check("evidence any", ev["any"].([]any)[0].(string))
	if _, ok := ev[secret]; ok {
		t.Error("a secret map key survived")
	}
	// What is not a string keeps its value and its type.
	if out.GeneratedAt != at || out.Engine.NCPU != 4 || ev["big"] != int64(1)<<60 || ev["any"].([]any)[1] != 3 ||
		!math.IsNaN(ev["nested"].(map[string]any)["n"].(float64)) || out.Findings[0].Status != checks.Fail {
		t.Errorf("non-string values changed: %+v", out)
	}
	// The input is untouched.
	if in.Findings[0].Message != "has "+secret || in.Findings[0].Evidence["list"].([]string)[0] != secret {
		t.Error("Scrub modified its input")
	}
}

func TestScrubNil(t *testing.T) {
	s := redact.NewScrubber()
	if got := sink.Scrub[*report.Report](s, nil); got != nil {
		t.Errorf("Scrub(nil report) = %v", got)
	}
	if got := sink.Scrub[map[string]any](s, nil); got != nil {
		t.Errorf("Scrub(nil map) = %v", got)
	}
	if got := sink.Scrub[any](s, nil); got != nil {
		t.Errorf("Scrub(nil any) = %v", got)
	}
	// A nil scrubber still applies the patterns.
	if got := sink.Scrub(nil, "HostName=h;SharedAccessKey=abcdefgh"); strings.Contains(got, "abcdefgh") {
		t.Errorf("nil scrubber let a key through: %q", got)
	}
}
