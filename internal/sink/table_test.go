package sink

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/policy"
	"github.com/edge-readiness/edge-readiness/internal/report"
)

// engineFix stands for the engine fact's fix, which the runner gives each
// finding the engine left undecided.
const engineFix = "bind the engine socket into the module"

// noEngineReport is what a device without a reachable engine gives: 30
// checks that cannot decide for one reason, one for another, one failure.
func noEngineReport() *report.Report {
	const cause = "cannot decide without the Docker engine: cannot reach the Docker engine at unix:///var/run/docker.sock: " +
		"permission denied; mount the engine socket into the module or start the engine"
	var fs []checks.Finding
	for i := 0; i < 30; i++ {
		x := f(fmt.Sprintf("engine-check-%02d", i), policy.Warning, checks.Error)
		x.Message, x.Remediation = cause, engineFix // the runner gives an error its fact's fix
		fs = append(fs, x)
	}
	lone := f("edge-ca-expiry", policy.Critical, checks.Error)
	lone.Message, lone.Remediation = "cannot read the Edge CA: edgeHub's address is unknown", "reach edgeHub's TLS endpoint"
	failing := f("metrics-endpoints", policy.Warning, checks.Fail)
	failing.Remediation = "keep metrics enabled"
	fs = append(fs, lone, failing, f("disk-space", policy.Critical, checks.Pass))
	return &report.Report{SchemaVersion: report.SchemaVersion, GeneratedAt: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC),
		Findings: fs, Summary: report.Summarize(fs)}
}

// TestTableSaysARootCauseOnce: 30 checks undecided for one reason are one
// row and one block naming them, not 30 blocks with 30 remedies; a lone
// error keeps its block; failures come first.
func TestTableSaysARootCauseOnce(t *testing.T) {
	for _, width := range []int{80, 0} {
		var buf bytes.Buffer
		if err := WriteTable(&buf, noEngineReport(), width); err != nil {
			t.Fatal(err)
		}
		out := buf.String()
		blocks := 0
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "[") {
				blocks++
			}
		}
		if blocks != 3 { // the failure, the lone error, the shared cause
			t.Errorf("width %d: %d what-to-fix blocks, want 3:\n%s", width, blocks, out)
		}
		if n := strings.Count(out, "fix: "+engineFix); n != 1 {
			t.Errorf("width %d: the shared cause's fix is printed %d times, want once:\n%s", width, n, out)
		}
		if !strings.Contains(out, "30 checks cannot decide, for one reason:") || !strings.Contains(out, "engine-check-29") ||
			!strings.Contains(out, "fix: reach edgeHub's TLS endpoint") {
			t.Errorf("width %d: the cause block or the lone error is missing:\n%s", width, out)
		}
		rows := strings.Count(out, "\nERROR ")
		if width > 0 && rows != 2 || width == 0 && rows != 31 {
			t.Errorf("width %d: %d ERROR rows", width, rows)
		}
		if i, j := strings.Index(out, "\nFAIL "), strings.Index(out, "\nERROR "); i < 0 || j < i {
			t.Errorf("width %d: the failure is not the first row:\n%s", width, out)
		}
	}
}

// TestTableWidths: at every width each line fits; the message column
// appears once there is room for it; --wide (0) cuts nothing.
func TestTableWidths(t *testing.T) {
	r := noEngineReport()
	long := strings.Repeat("a-very-long-word ", 20)
	r.Findings[31].Message = long + "https://learn.microsoft.com/azure/iot-edge/production-checklist#install-production-certificates"
	r.Findings[31].Reference = "https://learn.microsoft.com/azure/iot-edge/production-checklist#install-production-certificates"
	for _, width := range []int{40, 60, 80, 100, 120, 200} {
		var buf bytes.Buffer
		if err := WriteTable(&buf, r, width); err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(buf.String(), "\n") {
			if n := utf8.RuneCountInString(l); n > width {
				t.Errorf("width %d: a line of %d columns: %q", width, n, l)
			}
		}
		if hasMsg := strings.Contains(buf.String(), "SUBJECT  MESSAGE"); hasMsg != (width >= 80) { // 46 columns of prefix leave 34 for the message at 80
			t.Errorf("width %d: message column shown = %v", width, hasMsg)
		}
		if !strings.Contains(buf.String(), "(cut to fit") {
			t.Errorf("width %d: no word of what was cut", width)
		}
	}
	var buf bytes.Buffer
	if err := WriteTable(&buf, r, 0); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), strings.TrimSpace(long)) || !strings.Contains(buf.String(), "  see: "+r.Findings[31].Reference) ||
		strings.Contains(buf.String(), "…") || strings.Contains(buf.String(), "cut to fit") {
		t.Errorf("--wide cut something:\n%s", buf.String())
	}
}
