package sink

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/policy"
	"github.com/edge-readiness/edge-readiness/internal/report"
)

func f(id string, sev policy.Severity, st checks.Status) checks.Finding {
	return checks.Finding{ID: id, Title: id, Section: checks.SecDeployment, Severity: sev, Status: st, Message: id + " " + string(st)}
}

// sampleReport is a report as the model builds it: one check passing on
// edgeHub, one failing with its remedy, a fact source with a problem.
func sampleReport() *report.Report {
	fs := []checks.Finding{f("modules-running", policy.Critical, checks.Pass), f("disk-space", policy.Critical, checks.Fail)}
	fs[0].Module, fs[1].Remediation = "edgeHub", "free some space"
	r := &report.Report{SchemaVersion: report.SchemaVersion, GeneratedAt: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC),
		DurationMs: 1500, Engine: &report.Engine{ServerVersion: "20.10.11+azure-3"}, Findings: fs, Summary: report.Summarize(fs)}
	r.Inventory.SourceErrors = []string{"metrics edgeAgent (http://edgeAgent:9600/metrics): connection refused"}
	return r
}

func TestWriteJSONRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteJSON(&buf, sampleReport()); err != nil {
		t.Fatal(err)
	}
	var back report.Report
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatalf("report JSON does not parse: %v", err)
	}
	if back.Summary.Status != report.NotReady || len(back.Findings) != 2 || back.Findings[1].Remediation != "free some space" {
		t.Errorf("round trip = %+v", back)
	}
	for _, key := range []string{`"schemaVersion"`, `"generatedAt"`, `"durationMs"`, `"summary"`, `"findings"`, `"score"`, `"inventory"`} {
		if !bytes.Contains(buf.Bytes(), []byte(key)) {
			t.Errorf("JSON lacks %s", key)
		}
	}
}

func TestWriteTable(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteTable(&buf, sampleReport(), 0); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"status: NOTREADY", "score: 25/100", "FAIL    critical  disk-space", "PASS    critical  modules-running",
		"what to fix:", "fix: free some space", "fact sources with problems:", "connection refused"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}
