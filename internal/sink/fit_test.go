package sink

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/policy"
	"github.com/edge-readiness/edge-readiness/internal/report"
)

// fitReport has 20 passing and 5 skipped findings with evidence, and 10
// failing ones with evidence and remediation.
func fitReport() *report.Report {
	var fs []checks.Finding
	add := func(n int, st checks.Status) {
		for i := 0; i < n; i++ {
			x := f(fmt.Sprintf("%s-%02d", st, i), policy.Warning, st)
			x.Module = fmt.Sprintf("module-%02d", i)
			x.Evidence = map[string]any{"detail": strings.Repeat("e", 200)}
			x.Remediation = strings.Repeat("r", 100)
			fs = append(fs, x)
		}
	}
	add(20, checks.Pass)
	add(5, checks.Skip)
	add(10, checks.Fail)
	return &report.Report{SchemaVersion: report.SchemaVersion, Findings: fs, Summary: report.Summarize(fs)}
}

// stepSize is the size of r with the first n trimming steps of Fit applied,
// built here independently of Fit.
func stepSize(t *testing.T, r *report.Report, n int) int {
	t.Helper()
	c := *r
	c.Findings = nil
	for _, x := range r.Findings {
		decided := x.Status == checks.Fail || x.Status == checks.Error
		if n >= 2 && !decided {
			continue
		}
		if n >= 3 || (n >= 1 && !decided) {
			x.Evidence = nil
		}
		if n >= 3 {
			x.Remediation = ""
		}
		c.Findings = append(c.Findings, x)
	}
	notes := []string{
		"evidence of passing and skipped findings left out to fit the message size limit",
		"25 passing and skipped findings left out to fit the message size limit",
		"all evidence and remediation text left out to fit the message size limit",
	}
	c.Notes = notes[:n]
	b, err := json.Marshal(&c)
	if err != nil {
		t.Fatal(err)
	}
	return len(b)
}

func TestFitSteps(t *testing.T) {
	r := fitReport()
	sizes := make([]int, 4)
	for n := range sizes {
		sizes[n] = stepSize(t, r, n)
	}
	for n := 1; n < 4; n++ {
		if sizes[n] >= sizes[n-1] {
			t.Fatalf("step %d does not shrink the report: %v", n, sizes)
		}
	}
	type want struct {
		findings      int
		passEvidence  bool
		failEvidence  bool
		remediation   bool
		notes         int
		truncatedNote bool
	}
	tests := []struct {
		name  string
		limit int
		want  want
	}{
		{"fits whole", sizes[0], want{35, true, true, true, 0, false}},
		{"step 1: evidence of passing and skipped findings", sizes[1], want{35, false, true, true, 1, false}},
		{"step 2: passing and skipped findings", sizes[2], want{10, false, true, true, 2, false}},
		{"step 3: all evidence and remediation", sizes[3], want{10, false, false, false, 3, false}},
		{"step 4: tail of the failing findings", sizes[3] - 1, want{7, false, false, false, 4, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Fit(r, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			if len(b) > tt.limit {
				t.Errorf("%d bytes, over the %d limit", len(b), tt.limit)
			}
			var got report.Report
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			g := want{findings: len(got.Findings), notes: len(got.Notes)}
			for _, x := range got.Findings {
				decided := x.Status == checks.Fail || x.Status == checks.Error
				if x.Evidence != nil && decided {
					g.failEvidence = true
				}
				if x.Evidence != nil && !decided {
					g.passEvidence = true
				}
				if x.Remediation != "" {
					g.remediation = true
				}
			}
			for _, n := range got.Notes {
				if strings.HasPrefix(n, "only ") && strings.HasSuffix(n, " of 10 failing findings fit the message size limit") {
					g.truncatedNote = true
				}
			}
			if g != tt.want {
				t.Errorf("got %+v, want %+v (notes %q)", g, tt.want, got.Notes)
			}
		})
	}
	// Fit works on a copy: the report handed in keeps everything.
	if len(r.Findings) != 35 || r.Findings[0].Evidence == nil || r.Findings[34].Remediation == "" || len(r.Notes) != 0 {
		t.Errorf("Fit changed its input: %d findings, notes %q", len(r.Findings), r.Notes)
	}
	if _, err := Fit(r, 10); err == nil || !strings.Contains(err.Error(), "does not fit in 10 bytes") {
		t.Errorf("a limit nothing fits in: err = %v", err)
	}
}
