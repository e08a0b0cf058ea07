package cli

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/edge-readiness/edge-readiness/internal/policy"
	"github.com/edge-readiness/edge-readiness/internal/report"
	"github.com/edge-readiness/edge-readiness/internal/sink"
)

// TestExporterServesPage: the metrics listener serves /metrics and the
// latest report's page at /, to GET and HEAD; nothing else (another path,
// another method); with exporter.page false, / is gone and /metrics stays.
func TestExporterServesPage(t *testing.T) {
	page := sink.NewPage()
	metrics := sink.NewMetrics(sink.MetricsLabels{EdgeDevice: "d1"})
	rep := &report.Report{SchemaVersion: report.SchemaVersion, GeneratedAt: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC),
		Device: report.Device{DeviceID: "page-device-1", RuntimeMode: "module"}, Summary: report.Summarize(nil)}
	for _, s := range []sink.Sink{metrics, page} {
		if err := s.Publish(context.Background(), sink.Event{Report: rep}); err != nil {
			t.Fatal(err)
		}
	}
	e := &exporter{handler: metrics.Handler(), page: page, flagAddr: "127.0.0.1:0", log: zerolog.Nop()}
	defer e.stop()
	pol := policy.Default(nil)
	e.apply(pol)
	base := "http://" + e.ln.Addr().String()
	do := func(method, path string) (int, string) {
		req, err := http.NewRequest(method, base+path, strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := do("GET", "/"); code != 200 || !strings.Contains(body, "page-device-1") || !strings.HasPrefix(body, "<!DOCTYPE html>") {
		t.Errorf("GET /: %d %.200s", code, body)
	}
	if code, body := do("HEAD", "/"); code != 200 || body != "" {
		t.Errorf("HEAD /: %d %q", code, body)
	}
	if code, body := do("GET", "/metrics"); code != 200 || !strings.Contains(body, "edge_readiness_score") {
		t.Errorf("GET /metrics: %d", code)
	}
	for _, r := range [][2]string{{"POST", "/"}, {"PUT", "/"}, {"DELETE", "/"}, {"GET", "/report.json"}, {"GET", "/index.html"},
		{"GET", "/../etc/passwd"}, {"GET", "/debug/pprof/"}} {
		if code, _ := do(r[0], r[1]); code != http.StatusMethodNotAllowed && code != http.StatusNotFound {
			t.Errorf("%s %s: %d, want 404 or 405", r[0], r[1], code)
		}
	}

	// The policy turns the page off: the listener restarts without it.
	off := policy.Default(nil)
	off.Exporter.Page = false
	e.apply(off)
	base = "http://" + e.ln.Addr().String()
	if code, _ := do("GET", "/"); code != http.StatusNotFound {
		t.Errorf("GET / with exporter.page false: %d", code)
	}
	if code, _ := do("GET", "/metrics"); code != 200 {
		t.Errorf("GET /metrics with exporter.page false: %d", code)
	}
}
