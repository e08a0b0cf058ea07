package sink_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/policy"
	"github.com/edge-readiness/edge-readiness/internal/report"
	"github.com/edge-readiness/edge-readiness/internal/sink"
)

// scrape reads the sink's endpoint as Prometheus would.
func scrape(t *testing.T, m *sink.Metrics) (map[string]*dto.MetricFamily, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("GET /metrics = %d", rec.Code)
	}
	text := rec.Body.String()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("exposition does not parse: %v\n%s", err, text)
	}
	return fams, text
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// value finds the gauge of fam whose labels include want.
func value(fams map[string]*dto.MetricFamily, fam string, want map[string]string) (float64, int) {
	n, v := 0, 0.0
	for _, m := range fams[fam].GetMetric() {
		ok := true
		for k, val := range want {
			ok = ok && label(m, k) == val
		}
		if ok {
			n++
			v = m.GetGauge().GetValue()
		}
	}
	return v, n
}

// fiftyModules is a report of a 50-module device: three checks per module,
// one module failing one of them.
func fiftyModules(at time.Time, failing string) *report.Report {
	var fs []checks.Finding
	for i := 1; i <= 50; i++ {
		mod := fmt.Sprintf("module%02d", i)
		for _, id := range []string{"module-resource-limits", "image-tags-pinned", "container-engine-logrotate"} {
			st := checks.Pass
			if mod == failing && id == "module-resource-limits" {
				st = checks.Fail
			}
			fs = append(fs, checks.Finding{ID: id, Module: mod, Severity: policy.Critical, Status: st, Message: id})
		}
	}
	fs = append(fs, checks.Finding{ID: "clock-skew", Severity: policy.Critical, Status: checks.Skip, Message: "probes off"})
	return &report.Report{GeneratedAt: at, DurationMs: 42, Findings: fs, Summary: report.Summarize(fs)}
}

func TestMetricsSink(t *testing.T) {
	m := sink.NewMetrics(sink.MetricsLabels{IoTHub: "contoso.azure-devices.net", EdgeDevice: "edge-01", InstanceNumber: "i-1", Version: "1.2.3"})
	t0 := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	if err := m.Publish(context.Background(), sink.Event{Report: fiftyModules(t0, "module07"), LastPublished: t0.Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	fams, text := scrape(t, m)
	for name, fam := range fams {
		for _, s := range fam.GetMetric() {
			if label(s, "iothub") != "contoso.azure-devices.net" || label(s, "edge_device") != "edge-01" || label(s, "instance_number") != "i-1" {
				t.Errorf("%s lacks the runtime's labels: %v", name, s.GetLabel())
			}
		}
	}
	checksWant := []struct {
		fam    string
		labels map[string]string
		want   float64
	}{
		{"edge_readiness_status", map[string]string{"status": report.NotReady}, 1},
		{"edge_readiness_status", map[string]string{"status": report.Ready}, 0},
		{"edge_readiness_status", map[string]string{"status": report.Incomplete}, 0},
		{"edge_readiness_score", nil, float64(report.Summarize(fiftyModules(t0, "module07").Findings).Score)},
		{"edge_readiness_findings", map[string]string{"status": "fail"}, 1},
		{"edge_readiness_findings", map[string]string{"status": "pass"}, 149},
		{"edge_readiness_failures", map[string]string{"severity": "critical"}, 1},
		{"edge_readiness_check", map[string]string{"check": "module-resource-limits", "status": "fail", "severity": "critical"}, 1},
		{"edge_readiness_check", map[string]string{"check": "image-tags-pinned", "status": "pass"}, 1},
		{"edge_readiness_check", map[string]string{"check": "clock-skew", "status": "skip"}, 1},
		{"edge_readiness_cycle_duration_seconds", nil, 0.042},
		{"edge_readiness_last_cycle_timestamp_seconds", nil, float64(t0.Unix())},
		{"edge_readiness_last_publish_timestamp_seconds", nil, float64(t0.Add(-time.Minute).Unix())},
		{"edge_readiness_build_info", map[string]string{"version": "1.2.3"}, 1},
	}
	for _, c := range checksWant {
		if got, n := value(fams, c.fam, c.labels); n != 1 || got != c.want {
			t.Errorf("%s%v = %v (%d series), want %v\n%s", c.fam, c.labels, got, n, c.want, text)
		}
	}
	// Bounded cardinality: one series per check, however many modules.
	if n := len(fams["edge_readiness_check"].GetMetric()); n != 4 {
		t.Errorf("%d check series for 4 checks on 50 modules", n)
	}

	// The failing module is fixed: the check's series changes status, and stays one.
	if err := m.Publish(context.Background(), sink.Event{Report: fiftyModules(t0.Add(5*time.Minute), "")}); err != nil {
		t.Fatal(err)
	}
	fams, text = scrape(t, m)
	if _, n := value(fams, "edge_readiness_check", map[string]string{"check": "module-resource-limits"}); n != 1 {
		t.Errorf("module-resource-limits has %d series after its status changed\n%s", n, text)
	}
	if v, n := value(fams, "edge_readiness_check", map[string]string{"check": "module-resource-limits", "status": "pass"}); n != 1 || v != 1 {
		t.Errorf("module-resource-limits did not turn to pass\n%s", text)
	}
	if v, _ := value(fams, "edge_readiness_status", map[string]string{"status": report.Ready}); v != 1 {
		t.Errorf("status ready = %v after the fix", v)
	}
}
