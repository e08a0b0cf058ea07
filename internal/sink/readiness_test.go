package sink

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/facts"
	"github.com/edge-readiness/edge-readiness/internal/policy"
	"github.com/edge-readiness/edge-readiness/internal/report"
)

func manyFailures(n int) *report.Report {
	var fs []checks.Finding
	for i := 0; i < n; i++ {
		sev := policy.Warning
		if i%3 == 0 {
			sev = policy.Critical
		}
		x := f("module-resource-limits", sev, checks.Fail)
		x.Module = fmt.Sprintf("module-%03d", i)
		x.Message = strings.Repeat("a long explanation of what is wrong ", 10)
		fs = append(fs, x)
	}
	fs = append(fs, f("disk-space", policy.Critical, checks.Pass))
	return &report.Report{Summary: report.Summarize(fs), Findings: fs}
}

func TestCompactStaysInBudget(t *testing.T) {
	for _, n := range []int{0, 1, 10, 500} {
		r := manyFailures(n)
		s := Compact(r, SummaryBudget)
		b, _ := json.Marshal(map[string]any{"readiness": s})
		if len(b) > SummaryBudget {
			t.Errorf("%d failures: summary is %d bytes, over the %d budget", n, len(b), SummaryBudget)
		}
		if len(s.Failing)+s.FailingOmitted != n {
			t.Errorf("%d failures: %d listed + %d omitted", n, len(s.Failing), s.FailingOmitted)
		}
		for i := 1; i < len(s.Failing); i++ {
			if policy.Severity(s.Failing[i-1].Severity).Rank() < policy.Severity(s.Failing[i].Severity).Rank() {
				t.Fatalf("failing list not ordered by severity at %d", i)
			}
		}
		for _, fl := range s.Failing {
			if len([]rune(fl.Message)) > shortMessageLen {
				t.Errorf("message not shortened: %d runes", len([]rune(fl.Message)))
			}
		}
	}
	if s := Compact(manyFailures(500), SummaryBudget); s.FailingOmitted == 0 || len(s.Failing) == 0 {
		t.Errorf("500 failures should be truncated, got %d listed %d omitted", len(s.Failing), s.FailingOmitted)
	}
}

func TestMergePatch(t *testing.T) {
	tests := []struct {
		name     string
		from, to string
		want     string
	}{
		{"no change", `{"a":1,"b":{"c":"x"}}`, `{"a":1,"b":{"c":"x"}}`, `{}`},
		{"changed leaf", `{"a":1,"b":{"c":"x","d":2}}`, `{"a":1,"b":{"c":"y","d":2}}`, `{"b":{"c":"y"}}`},
		{"removed key", `{"a":1,"b":2}`, `{"a":1}`, `{"b":null}`},
		{"removed nested key", `{"b":{"c":1,"d":2}}`, `{"b":{"c":1}}`, `{"b":{"d":null}}`},
		{"array replaced whole", `{"l":[1,2]}`, `{"l":[1,3]}`, `{"l":[1,3]}`},
		{"twin metadata ignored", `{"$version":3,"$metadata":{},"a":1}`, `{"a":1}`, `{}`},
		{"new object", `{}`, `{"p":{"v":1}}`, `{"p":{"v":1}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var from, to, want map[string]any
			for _, p := range []struct {
				s string
				m *map[string]any
			}{{tt.from, &from}, {tt.to, &to}, {tt.want, &want}} {
				if err := json.Unmarshal([]byte(p.s), p.m); err != nil {
					t.Fatal(err)
				}
			}
			got := MergePatch(from, to)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("MergePatch = %v, want %v", got, want)
			}
			// Applying the patch must give the target (less twin metadata).
			applied := ApplyMergePatch(from, got)
			delete(applied, "$version")
			delete(applied, "$metadata")
			if !reflect.DeepEqual(normalize(applied), normalize(to)) {
				t.Errorf("apply(from, patch) = %v, want %v", applied, to)
			}
		})
	}
}

// TestCompactNamesTheLifecycle: the twin summary says which lifecycle table
// the report was judged against, as report.Build takes it from the policy.
func TestCompactNamesTheLifecycle(t *testing.T) {
	if r := report.Build(report.Input{Snap: &facts.Snapshot{}, Policy: policy.Default(nil), Source: "default"}, nil); r.Policy.Lifecycle != "" {
		t.Fatalf("a policy without runtime-version-supported names lifecycle %q", r.Policy.Lifecycle)
	}
	pol := policy.Default(checks.Specs(checks.All()))
	r := report.Build(report.Input{Snap: &facts.Snapshot{}, Policy: pol, Source: "default"}, nil)
	if r.Policy.Lifecycle != "1.6=2028-11-14" {
		t.Errorf("report.policy.lifecycle = %q, want 1.6=2028-11-14", r.Policy.Lifecycle)
	}
	b, err := json.Marshal(Compact(r, SummaryBudget))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"lifecycle":"1.6=2028-11-14"`) {
		t.Errorf("twin summary %s does not name the lifecycle", b)
	}
}

// TestReadinessRoundTrip: the document the Twin sink writes reads back, through
// ReadReadiness (the daemon's and the fleet's reader), as the same value.
func TestReadinessRoundTrip(t *testing.T) {
	r := manyFailures(5)
	r.GeneratedAt = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	for _, beat := range []time.Time{{}, r.GeneratedAt.Add(time.Minute)} {
		s := Compact(r, SummaryBudget)
		s.Heartbeat = beat
		m, err := ToMap(s)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := m["heartbeat"]; ok == beat.IsZero() {
			t.Errorf("heartbeat %v: written = %v", beat, ok)
		}
		back := ReadReadiness(m)
		if back == nil || !reflect.DeepEqual(*back, s) {
			t.Errorf("read back\n%+v\nwritten\n%+v", back, s)
		}
		if want := beat; want.IsZero() && !back.LastSeen().Equal(r.GeneratedAt) || !want.IsZero() && !back.LastSeen().Equal(want) {
			t.Errorf("LastSeen = %v", back.LastSeen())
		}
	}
	if ReadReadiness("x") != nil || ReadReadiness(nil) != nil {
		t.Error("a document that is no object was read")
	}
}
