package facts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
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

// NewMetricsClient returns the HTTP client used for the metrics endpoints: a
// 5 s timeout, no proxy (the endpoints are local), and redirects followed only
// on the same host.
func NewMetricsClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	return &http.Client{
		Timeout:   DefaultScrapeTimeout,
		Transport: tr,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("stopped after 5 redirects")
			}
			if req.URL.Host != via[0].URL.Host {
				return fmt.Errorf("refusing redirect to another host (%s)", req.URL.Host)
			}
			return nil
		},
	}
}

// UnresolvedTTL is how long a metrics host name that did not resolve is
// not looked up again: the scrapes go straight to the container's address.
// On the host (check, or module mode outside the azure-iot-edge network)
// edgeHub and edgeAgent never resolve, and a resolver that drops one query
// in a few dozen makes the lookup wait its whole timeout (5 s by default):
// looking the names up every cycle made one cycle in twenty take 5 s.
const UnresolvedTTL = 15 * time.Minute

// metricsSource scrapes one runtime metrics endpoint.
type metricsSource struct {
	g        *Gatherer
	endpoint string // EdgeHub or EdgeAgent
	url      string
	fact     Fact
}

var _ Source = (*metricsSource)(nil)

func (m *metricsSource) Name() string { return SourceMetrics + ":" + m.endpoint }

func (m *metricsSource) Gather(ctx context.Context, run *Run) SourceRun {
	sc := m.g.scrapeMetrics(ctx, m.url, func() bool { return run.Wait(ctx, SourceDocker) }, run.Snap)
	run.SetMetrics(m.endpoint, sc)
	if !sc.OK() {
		return SourceRun{Status: StatusError, Reason: sc.Error, Facts: factStates(StatusError, sc.Error, m.fact)}
	}
	return SourceRun{Status: StatusOK, Facts: factStates(StatusOK, "", m.fact)}
}

// scrapeMetrics reads one endpoint. When the configured URL is the default
// and its host name does not resolve (the module runs on the host, not on
// the azure-iot-edge network), it waits for the containers and retries on
// the address of the module container named like the URL's host.
func (g *Gatherer) scrapeMetrics(ctx context.Context, rawURL string, waitDocker func() bool, s *Snapshot) *Scrape {
	host := urlHost(rawURL)
	var sc *Scrape
	if since, ok := g.recentlyUnresolved(host, s.Time); ok && !g.cfg.MetricsExplicit {
		sc = &Scrape{Endpoint: rawURL, Time: s.Time, Error: fmt.Sprintf(
			"%s did not resolve at %s (not looked up again for %s)", host, since.UTC().Format(time.RFC3339), UnresolvedTTL)}
	} else {
		rec := &errRecorder{doer: g.httpc}
		sc = g.scrape(ctx, rec, rawURL)
		var dnsErr *net.DNSError
		if sc.OK() || g.cfg.MetricsExplicit || !errors.As(rec.err, &dnsErr) {
			return sc
		}
		g.markUnresolved(host, s.Time)
	}

	if !waitDocker() {
		why := "the engine source did not run"
		if ctx.Err() != nil {
			why = ctx.Err().Error()
		}
		sc.Error += "; no fallback to the container's address: " + why
		return sc
	}
	alt, why := fallbackURL(rawURL, s)
	if alt == "" {
		sc.Error += "; no fallback to the container's address: " + why
		return sc
	}
	sc2 := g.scrape(ctx, g.httpc, alt)
	if !sc2.OK() {
		sc2.Error = sc.Error + "; then by the container's address: " + sc2.Error
	}
	return sc2
}

// scrape reads one endpoint under ScrapeTimeout. A page that makes the
// parser panic (prometheus/common v0.66 does on "{}", fixed upstream by
// prometheus/common#922) is a failed scrape, not a crashed module.
func (g *Gatherer) scrape(ctx context.Context, c HTTPDoer, rawURL string) (sc *Scrape) {
	defer func() {
		if r := recover(); r != nil {
			sc = &Scrape{Endpoint: rawURL, Time: time.Now(),
				Error: fmt.Sprintf("parsing metrics from %s: parser panic: %v", rawURL, r)}
		}
	}()
	if g.ScrapeTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, g.ScrapeTimeout)
		defer cancel()
	}
	return ScrapeURL(ctx, c, rawURL)
}

// recentlyUnresolved tells whether host failed to resolve less than
// UnresolvedTTL before now, and when.
func (g *Gatherer) recentlyUnresolved(host string, now time.Time) (time.Time, bool) {
	g.unresolvedMu.Lock()
	defer g.unresolvedMu.Unlock()
	t, ok := g.unresolved[strings.ToLower(host)]
	if !ok || now.Sub(t) >= UnresolvedTTL || now.Before(t) {
		return time.Time{}, false
	}
	return t, true
}

func (g *Gatherer) markUnresolved(host string, now time.Time) {
	g.unresolvedMu.Lock()
	defer g.unresolvedMu.Unlock()
	if g.unresolved == nil {
		g.unresolved = map[string]time.Time{}
	}
	g.unresolved[strings.ToLower(host)] = now
}

func urlHost(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return rawURL
	}
	return u.Hostname()
}

// fallbackURL replaces the host of rawURL by the IP address of the module
// container whose name is the host's first label (edgeHub for
// http://edgeHub:9600/metrics), keeping scheme, port and path. It prefers the
// address on the azure-iot-edge network. It returns "" and a reason when
// there is none.
func fallbackURL(rawURL string, s *Snapshot) (string, string) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", err.Error()
	}
	name, _, _ := strings.Cut(u.Hostname(), ".")
	if s.Engine == nil {
		return "", "the Docker engine did not answer"
	}
	c := findModule(s, name)
	if c == nil {
		return "", fmt.Sprintf("no IoT Edge module container named %s", name)
	}
	ip := containerIP(c)
	if ip == "" {
		return "", fmt.Sprintf("container %s has no IP address (state %s)", c.Name, c.State.Status)
	}
	alt := *u
	if port := u.Port(); port != "" {
		alt.Host = net.JoinHostPort(ip, port)
	} else if strings.Contains(ip, ":") {
		alt.Host = "[" + ip + "]"
	} else {
		alt.Host = ip
	}
	return alt.String(), ""
}

// findModule finds the module container by name, exactly or else ignoring
// case (host names are case-insensitive).
func findModule(s *Snapshot, name string) *Container {
	if c := s.Module(name); c != nil {
		return c
	}
	for _, c := range s.Modules() {
		if strings.EqualFold(c.Name, name) {
			return c
		}
	}
	return nil
}

// errRecorder keeps the transport error of the request it made, so that a
// failed name resolution can be told from other failures.
type errRecorder struct {
	doer HTTPDoer
	err  error
}

func (r *errRecorder) Do(req *http.Request) (*http.Response, error) {
	resp, err := r.doer.Do(req)
	r.err = err
	return resp, err
}
