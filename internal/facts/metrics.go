package facts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// MaxMetricsBytes bounds how much of a metrics page is read.
const MaxMetricsBytes = 4 << 20

// Scrape is the result of reading one Prometheus endpoint.
type Scrape struct {
	Endpoint string    `json:"endpoint"`
	Error    string    `json:"error,omitempty"`
	Samples  []Sample  `json:"samples,omitempty"`
	Time     time.Time `json:"time"`
}

// Sample is one value of the exposition, flattened as Prometheus stores it:
// a summary becomes name{quantile=...}, name_sum and name_count.
type Sample struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels,omitempty"`
	Value  float64           `json:"value"`
}

// OK tells whether the endpoint was read and parsed.
func (s *Scrape) OK() bool { return s != nil && s.Error == "" }

// Find returns the samples with the given name whose labels include every
// pair in match.
func (s *Scrape) Find(name string, match map[string]string) []Sample {
	if s == nil {
		return nil
	}
	var out []Sample
next:
	for _, smp := range s.Samples {
		if smp.Name != name {
			continue
		}
		for k, v := range match {
			if smp.Labels[k] != v {
				continue next
			}
		}
		out = append(out, smp)
	}
	return out
}

// ParseMetrics parses Prometheus text exposition format (version 0.0.4) into
// flattened samples. NaN values are kept; a garbled page is an error that
// says where it broke.
func ParseMetrics(r io.Reader) (samples []Sample, err error) {
	// prometheus/common v0.66 panics on some malformed pages (fixed upstream
	// in v0.73, prometheus/common#922): a bad page is an error, never a crash.
	defer func() {
		if p := recover(); p != nil {
			samples, err = nil, fmt.Errorf("parsing metrics: malformed exposition (parser panic: %v)", p)
		}
	}()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parsing metrics: %w", err)
	}
	names := make([]string, 0, len(fams))
	for n := range fams {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []Sample
	for _, n := range names {
		out = appendFamily(out, fams[n])
	}
	return out, nil
}

func appendFamily(out []Sample, f *dto.MetricFamily) []Sample {
	name := f.GetName()
	for _, m := range f.GetMetric() {
		labels := make(map[string]string, len(m.GetLabel()))
		for _, lp := range m.GetLabel() {
			labels[lp.GetName()] = lp.GetValue()
		}
		switch f.GetType() {
		case dto.MetricType_COUNTER:
			out = append(out, Sample{name, labels, m.GetCounter().GetValue()})
		case dto.MetricType_GAUGE:
			out = append(out, Sample{name, labels, m.GetGauge().GetValue()})
		case dto.MetricType_SUMMARY:
			s := m.GetSummary()
			for _, q := range s.GetQuantile() {
				ql := withLabel(labels, "quantile", formatFloat(q.GetQuantile()))
				out = append(out, Sample{name, ql, q.GetValue()})
			}
			out = append(out, Sample{name + "_sum", labels, s.GetSampleSum()},
				Sample{name + "_count", labels, float64(s.GetSampleCount())})
		case dto.MetricType_HISTOGRAM:
			h := m.GetHistogram()
			for _, b := range h.GetBucket() {
				bl := withLabel(labels, "le", formatFloat(b.GetUpperBound()))
				out = append(out, Sample{name + "_bucket", bl, float64(b.GetCumulativeCount())})
			}
			out = append(out, Sample{name + "_sum", labels, h.GetSampleSum()},
				Sample{name + "_count", labels, float64(h.GetSampleCount())})
		default: // untyped
			out = append(out, Sample{name, labels, m.GetUntyped().GetValue()})
		}
	}
	return out
}

func withLabel(labels map[string]string, k, v string) map[string]string {
	out := make(map[string]string, len(labels)+1)
	for lk, lv := range labels {
		out[lk] = lv
	}
	out[k] = v
	return out
}

func formatFloat(f float64) string {
	if math.IsInf(f, +1) {
		return "+Inf"
	}
	return fmt.Sprint(f)
}

// HTTPDoer is the part of *http.Client that Scrape uses.
type HTTPDoer interface {
	Do(*http.Request) (*http.Response, error)
}

// ScrapeURL reads and parses one metrics endpoint. It never returns an error:
// a failure is recorded in the Scrape.
func ScrapeURL(ctx context.Context, c HTTPDoer, url string) *Scrape {
	s := &Scrape{Endpoint: url, Time: time.Now()}
	samples, err := scrape(ctx, c, url)
	if err != nil {
		s.Error = err.Error()
		return s
	}
	s.Samples = samples
	return s
}

func scrape(ctx context.Context, c HTTPDoer, url string) ([]Sample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("reading metrics from %s: %w", url, err)
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("reading metrics from %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("reading metrics from %s: HTTP status %s", url, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxMetricsBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading metrics from %s: %w", url, err)
	}
	if len(body) > MaxMetricsBytes {
		return nil, fmt.Errorf("reading metrics from %s: page larger than %d bytes", url, MaxMetricsBytes)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, errors.New("reading metrics from " + url + ": empty page")
	}
	samples, err := ParseMetrics(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("from %s: %w", url, err)
	}
	return samples, nil
}
