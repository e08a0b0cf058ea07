package sink

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"runtime"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/edge-readiness/edge-readiness/internal/report"
)

// MetricsLabels are the labels every series carries, as the IoT Edge
// runtime's own metrics do, so that Microsoft's metrics-collector module and
// the IoT Edge workbooks pick them up next to edgeHub's and edgeAgent's.
type MetricsLabels struct {
	IoTHub     string // iothub: the IoT Hub host name
	EdgeDevice string // edge_device: the device id
	// InstanceNumber tells this process's series from an earlier one's
	// (edgeHub and edgeAgent use a GUID per start); empty makes one.
	InstanceNumber string
	Version        string // the module's version, for build info
}

// Metrics exposes the latest report as Prometheus gauges, served by Handler
// in the text format at /metrics (port 9600 like edgeHub and edgeAgent).
// Cardinality is bounded: one series per check id (at its worst subject),
// whatever the number of modules.
type Metrics struct {
	reg          *prometheus.Registry
	status       *prometheus.GaugeVec
	score        prometheus.Gauge
	findings     *prometheus.GaugeVec
	failures     *prometheus.GaugeVec
	check        *prometheus.GaugeVec
	duration     prometheus.Gauge
	lastCycle    prometheus.Gauge
	lastPublish  prometheus.Gauge
	mu           sync.Mutex
	checkSeries  map[string][2]string // check id -> the status and severity labels of its series
	statusValues []string
}

// NewMetrics returns a metrics sink with its own registry.
func NewMetrics(l MetricsLabels) *Metrics {
	if l.InstanceNumber == "" {
		l.InstanceNumber = newInstanceNumber()
	}
	constLabels := prometheus.Labels{"iothub": l.IoTHub, "edge_device": l.EdgeDevice, "instance_number": l.InstanceNumber}
	gauge := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: constLabels})
	}
	vec := func(name, help string, labels ...string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: constLabels}, labels)
	}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		status: vec("edge_readiness_status",
			"Readiness of the device: 1 for the current status (ready, degraded, incomplete, notReady), 0 for the others.", "status"),
		score: gauge("edge_readiness_score", "Readiness score, 0 to 100 (a critical failure keeps it below 50)."),
		findings: vec("edge_readiness_findings",
			"Findings of the latest cycle by status (pass, fail, error, skip).", "status"),
		failures: vec("edge_readiness_failures",
			"Failed or errored findings of the latest cycle by severity (critical, warning, info).", "severity"),
		check: vec("edge_readiness_check",
			"One series per check at its worst subject: 1, labelled with that status (fail, error, pass, skip) and the check's severity.",
			"check", "status", "severity"),
		duration:     gauge("edge_readiness_cycle_duration_seconds", "Duration of the latest cycle."),
		lastCycle:    gauge("edge_readiness_last_cycle_timestamp_seconds", "Unix time at which the latest cycle finished."),
		lastPublish:  gauge("edge_readiness_last_publish_timestamp_seconds", "Unix time of the latest successful publication to IoT Hub (0: none yet)."),
		checkSeries:  map[string][2]string{},
		statusValues: report.AllStatuses,
	}
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "edge_readiness_build_info",
		Help: "Build of the edge-readiness module: always 1.", ConstLabels: constLabels}, []string{"version", "goversion"})
	build.WithLabelValues(l.Version, runtime.Version()).Set(1)
	m.reg.MustRegister(m.status, m.score, m.findings, m.failures, m.check, m.duration, m.lastCycle, m.lastPublish, build)
	return m
}

func newInstanceNumber() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

var _ Sink = (*Metrics)(nil)

// Name implements Sink.
func (*Metrics) Name() string { return "metrics" }

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Publish implements Sink: the gauges follow the latest report.
func (m *Metrics) Publish(_ context.Context, ev Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !ev.LastPublished.IsZero() {
		m.lastPublish.Set(float64(ev.LastPublished.UnixMilli()) / 1000)
	}
	r := ev.Report
	if r == nil {
		return nil
	}
	for _, s := range m.statusValues {
		v := 0.0
		if s == r.Summary.Status {
			v = 1
		}
		m.status.WithLabelValues(s).Set(v)
	}
	m.score.Set(float64(r.Summary.Score))
	c := r.Summary.Counts
	for status, n := range map[string]int{"pass": c.Pass, "fail": c.Fail, "error": c.Error, "skip": c.Skip} {
		m.findings.WithLabelValues(status).Set(float64(n))
	}
	for sev, n := range map[string]int{"critical": c.Critical, "warning": c.Warning, "info": c.Info} {
		m.failures.WithLabelValues(sev).Set(float64(n))
	}
	severity := map[string]string{}
	for _, f := range r.Findings {
		if _, ok := severity[f.ID]; !ok || f.Status == "fail" || f.Status == "error" {
			severity[f.ID] = string(f.Severity)
		}
	}
	for id, st := range report.CheckStatuses(r) {
		want := [2]string{st, severity[id]}
		if old, ok := m.checkSeries[id]; ok && old != want {
			m.check.DeleteLabelValues(id, old[0], old[1]) // one series per check: the old status goes
		}
		m.check.WithLabelValues(id, want[0], want[1]).Set(1)
		m.checkSeries[id] = want
	}
	m.duration.Set(float64(r.DurationMs) / 1000)
	m.lastCycle.Set(float64(r.GeneratedAt.UnixMilli()) / 1000)
	return nil
}
