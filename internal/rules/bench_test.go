package rules

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/facts"
	"github.com/edge-readiness/edge-readiness/internal/policy"
)

// fiftyModules is the test device grown to 50 modules with copies of filter.
func fiftyModules() *facts.Snapshot {
	s := device()
	base := s.Containers[2]
	for i := len(s.Containers); i < 50; i++ {
		c := base
		c.Name, c.ID = fmt.Sprintf("module%02d", i), fmt.Sprintf("%064x", i)
		c.Labels = map[string]string{facts.OwnerLabel: facts.OwnerValue, facts.OriginalImageLabel: c.Image, "com.contoso.owner": "line-3"}
		c.Env = map[string]string{"RuntimeLogLevel": "info", "LOG_FORMAT": "json", "SITE": "plant-2"}
		s.Containers = append(s.Containers, c)
	}
	return s
}

// twentyRules is a policy with the fourteen rules of examples/rules and six
// more module rules.
func twentyRules(tb testing.TB) *policy.Policy {
	all := map[string]any{}
	files, _ := filepath.Glob("../../examples/rules/*.policy.json")
	for _, f := range files {
		var p struct{ Rules map[string]any }
		b, err := os.ReadFile(f)
		if err != nil || json.Unmarshal(b, &p) != nil {
			tb.Fatalf("reading %s: %v", f, err)
		}
		for id, r := range p.Rules {
			all[id] = r
		}
	}
	for i := 0; len(all) < 20; i++ {
		all[fmt.Sprintf("extra-%d", i)] = map[string]any{"title": "extra", "severity": "warning", "scope": "module",
			"expression": fmt.Sprintf("module.system || (module.labels.exists(k, k.startsWith('com.contoso')) && module.env.size() < %d)", 100+i)}
	}
	b, _ := json.Marshal(map[string]any{"rules": all})
	p, err := policy.Decode(b, checks.Specs(checks.All()))
	if err != nil {
		tb.Fatal(err)
	}
	if len(p.Rules) != 20 {
		tb.Fatalf("%d rules, want 20", len(p.Rules))
	}
	return p
}

// BenchmarkCycle runs the catalog on the 50-module device without rules and
// with twenty: the difference is what twenty rules add to a cycle.
func BenchmarkCycle(b *testing.B) {
	s := fiftyModules()
	for _, n := range []int{0, 20} {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			pol := policy.Default(checks.Specs(checks.All()))
			all := checks.All()
			if n > 0 {
				pol = twentyRules(b)
				compiled, err := Compile(pol)
				if err != nil {
					b.Fatal(err)
				}
				all = append(all, compiled...)
			}
			b.ReportAllocs()
			for b.Loop() {
				// A new snapshot each cycle, as the gatherer makes one: the views are built every time.
				snap := *s
				if fs := checks.Run(all, checks.Input{Snap: &snap, Self: "readiness"}, pol); len(fs) == 0 {
					b.Fatal("no findings")
				}
			}
		})
	}
}

// BenchmarkTwentyRules runs only the twenty rules on the 50-module device:
// the cost they add to a cycle, views included.
func BenchmarkTwentyRules(b *testing.B) {
	s := fiftyModules()
	pol := twentyRules(b)
	compiled, err := Compile(pol)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		snap := *s
		if fs := checks.Run(compiled, checks.Input{Snap: &snap, Self: "readiness"}, pol); len(fs) == 0 {
			b.Fatal("no findings")
		}
	}
}

// TestTwentyRulesOnFiftyModules: the benchmark's policy decides a finding
// per module for every module rule (no error, nothing skipped).
func TestTwentyRulesOnFiftyModules(t *testing.T) {
	pol := twentyRules(t)
	compiled, err := Compile(pol)
	if err != nil {
		t.Fatal(err)
	}
	fs := checks.Run(compiled, checks.Input{Snap: fiftyModules(), Self: "readiness"}, pol)
	per := map[string]int{}
	for _, f := range fs {
		if f.Status == checks.Error {
			t.Errorf("%s [%s]: %s", f.ID, f.Module, f.Message)
		}
		if f.Status == checks.Pass || f.Status == checks.Fail {
			per[f.ID]++
		}
	}
	for _, r := range pol.Rules {
		want := 50
		switch {
		case r.Scope == policy.ScopeDevice:
			want = 1
		case r.ID == "restart-always": // only a manifest holds it: one skip
			want = 0
		}
		if per[r.ID] != want {
			t.Errorf("%s: %d decided findings, want %d", r.ID, per[r.ID], want)
		}
	}
}
