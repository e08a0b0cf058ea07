package sink_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/cycle"
	"github.com/edge-readiness/edge-readiness/internal/facts"
	"github.com/edge-readiness/edge-readiness/internal/policy"
	"github.com/edge-readiness/edge-readiness/internal/report"
	"github.com/edge-readiness/edge-readiness/internal/rules"
	"github.com/edge-readiness/edge-readiness/internal/sink"
)

// ruleReport runs one cycle over the example gateway's saved snapshot as
// check and module mode do: the catalog, then the rules of policyFile
// compiled by package rules, through cycle.Runner (and so checks.Run).
// policyFile "" is the default policy, without rules.
func ruleReport(t *testing.T, policyFile string, at time.Time) *report.Report {
	t.Helper()
	specs := checks.Specs(checks.All())
	ref := cycle.PolicyRef{Policy: policy.Default(specs), Source: "default"}
	if policyFile != "" {
		data, err := os.ReadFile(policyFile)
		if err != nil {
			t.Fatal(err)
		}
		p, err := policy.Decode(data, specs)
		if err != nil {
			t.Fatalf("%s: %v", policyFile, err)
		}
		compiled, err := rules.Compile(p)
		if err != nil {
			t.Fatalf("%s: %v", policyFile, err)
		}
		ref = cycle.PolicyRef{Policy: p, Source: "file", Rules: compiled}
	}
	snap, err := facts.OpenSnapshotFile("../../examples/gateway.snapshot.json")
	if err != nil {
		t.Fatal(err)
	}
	r := &cycle.Runner{Gatherer: snap, Checks: checks.All(), Now: func() time.Time { return at }}
	return r.Run(context.Background(), ref)
}

// rulePage publishes r to a metrics sink through the Publisher, as module
// mode feeds it, and scrapes /metrics.
func rulePage(t *testing.T, r *report.Report) (map[string]*dto.MetricFamily, string) {
	t.Helper()
	m := sink.NewMetrics(sink.MetricsLabels{IoTHub: "contoso.azure-devices.net", EdgeDevice: "edge-01", InstanceNumber: "i-1", Version: "1.2.3"})
	if err := sink.NewPublisher(nil, m).Publish(context.Background(), sink.Event{Time: r.GeneratedAt, Report: r, Changed: true}); err != nil {
		t.Fatal(err)
	}
	return scrape(t, m)
}

// seriesOf is the lines of an exposition that start with prefix.
func seriesOf(text, prefix string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			b.WriteString(l)
		}
	}
	return b.String()
}

// TestRuleInMetrics: a user rule, compiled and run over a real snapshot by
// the runner, is one edge_readiness_check series labelled with its worst
// status and its severity (the policy's checks.<id>.severity when it
// overrides the rule's), and its findings are in edge_readiness_findings
// and edge_readiness_failures, as a catalog check's are. The counts are
// compared with the same cycle without the rule. The page passes
// Prometheus' lint.
func TestRuleInMetrics(t *testing.T) {
	at := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	baseFams, _ := rulePage(t, ruleReport(t, "", at))
	if _, n := value(baseFams, "edge_readiness_check", map[string]string{"check": "approved-registry"}); n != 0 {
		t.Fatalf("the default policy has an approved-registry series")
	}
	// On the gateway, edgeAgent and edgeHub (system modules) pass; filter,
	// modbus and opcPublisher come from contoso.azurecr.io.
	for _, c := range []struct {
		name, policy     string
		status, severity string
		findings         map[string]float64 // more findings than without the rule, by status
		failures         map[string]float64 // more failed findings than without the rule, by severity
	}{
		{"failing, critical", "testdata/rules/approved-registry.policy.json", "fail", "critical",
			map[string]float64{"fail": 3, "pass": 2}, map[string]float64{"critical": 3}},
		{"severity warning by checks.<id>", "testdata/rules/approved-registry-warning.policy.json", "fail", "warning",
			map[string]float64{"fail": 3, "pass": 2}, map[string]float64{"warning": 3}},
		{"severity off by checks.<id>", "testdata/rules/approved-registry-off.policy.json", "skip", "off",
			map[string]float64{"skip": 1}, nil},
		{"passing (the example)", "../../examples/rules/approved-registry.policy.json", "pass", "critical",
			map[string]float64{"pass": 5}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			fams, text := rulePage(t, ruleReport(t, c.policy, at))
			if _, n := value(fams, "edge_readiness_check", map[string]string{"check": "approved-registry"}); n != 1 {
				t.Errorf("approved-registry has %d series, want one whatever the number of modules", n)
			}
			line := `edge_readiness_check{check="approved-registry",edge_device="edge-01",instance_number="i-1",` +
				`iothub="contoso.azure-devices.net",severity="` + c.severity + `",status="` + c.status + `"} 1` + "\n"
			if !strings.Contains(text, line) {
				t.Errorf("the page lacks\n%sits lines of edge_readiness_check are\n%s", line, seriesOf(text, "edge_readiness_check{"))
			}
			for _, s := range []string{"pass", "fail", "error", "skip"} {
				got, _ := value(fams, "edge_readiness_findings", map[string]string{"status": s})
				base, _ := value(baseFams, "edge_readiness_findings", map[string]string{"status": s})
				if got-base != c.findings[s] {
					t.Errorf(`edge_readiness_findings{status=%q} = %v, %v without the rule; want %v more`, s, got, base, c.findings[s])
				}
			}
			for _, s := range []string{"critical", "warning", "info"} {
				got, _ := value(fams, "edge_readiness_failures", map[string]string{"severity": s})
				base, _ := value(baseFams, "edge_readiness_failures", map[string]string{"severity": s})
				if got-base != c.failures[s] {
					t.Errorf(`edge_readiness_failures{severity=%q} = %v, %v without the rule; want %v more`, s, got, base, c.failures[s])
				}
			}
			problems, err := promlint.New(strings.NewReader(text)).Lint()
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range problems {
				t.Errorf("promlint: %s: %s", p.Metric, p.Text)
			}
		})
	}
}

// TestRuleMetricsPromtool has promtool check metrics read the page with a
// failing rule, as Prometheus' own tools read it. An external tool: engine
// tier only (no -short), required in CI (Debian package prometheus).
func TestRuleMetricsPromtool(t *testing.T) {
	if testing.Short() {
		t.Skip("runs promtool, an external tool: skipped with -short (TestRuleInMetrics runs the same lint, promlint)")
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("promtool is not installed (Debian package prometheus): %v", err)
		}
		t.Skipf("promtool is not installed (Debian package prometheus)")
	}
	_, text := rulePage(t, ruleReport(t, "testdata/rules/approved-registry.policy.json", time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)))
	if !strings.Contains(text, `check="approved-registry"`) {
		t.Fatalf("no series of the rule on the page:\n%s", text)
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out.String())
	}
}
