package sink_test

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/edge-readiness/edge-readiness/internal/sink"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata (the /metrics exposition)")

// goldenExposition is the whole /metrics text of the 50-module device with
// one failure, the Go version masked (it changes with the toolchain).
func goldenExposition(t *testing.T) string {
	t.Helper()
	m := sink.NewMetrics(sink.MetricsLabels{IoTHub: "contoso.azure-devices.net", EdgeDevice: "edge-01", InstanceNumber: "i-1", Version: "1.2.3"})
	t0 := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	if err := m.Publish(context.Background(), sink.Event{Report: fiftyModules(t0, "module07"), LastPublished: t0.Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	_, text := scrape(t, m)
	return strings.ReplaceAll(text, `goversion="`+runtime.Version()+`"`, `goversion="GOVERSION"`)
}

// TestMetricsExpositionGolden: the /metrics exposition is a public surface
// (dashboards, alerts and metrics-collector read it): any change to a name,
// a label, a help text or a value shows here and goes in CHANGELOG.md.
// Rewrite with go test ./internal/sink -run TestMetricsExpositionGolden -update.
func TestMetricsExpositionGolden(t *testing.T) {
	got := goldenExposition(t)
	path := filepath.Join("testdata", "metrics.golden.prom")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (create it with -update)", err)
	}
	if got != string(want) {
		t.Errorf("the /metrics exposition changed (if on purpose: -update, and say so in CHANGELOG.md)\n--- got\n%s\n--- want\n%s", got, want)
	}
}

// TestMetricNamesLint runs Prometheus' own metric lint (promlint, what
// promtool check metrics runs) on the exposition: no problem allowed. A
// name breaking the conventions is shown to be caught.
func TestMetricNamesLint(t *testing.T) {
	problems, err := promlint.New(strings.NewReader(goldenExposition(t))).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	bad := "# HELP edge_readiness_cycleDuration_milliseconds Duration.\n# TYPE edge_readiness_cycleDuration_milliseconds gauge\n" +
		"edge_readiness_cycleDuration_milliseconds 42\n"
	if problems, err := promlint.New(strings.NewReader(bad)).Lint(); err != nil || len(problems) == 0 {
		t.Errorf("promlint passed a camelCase name in milliseconds: %v %v", problems, err)
	}
}
