package sink_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/edge-readiness/edge-readiness/internal/cli"
	"github.com/edge-readiness/edge-readiness/internal/report"
	"github.com/edge-readiness/edge-readiness/internal/sink"
	"github.com/edge-readiness/edge-readiness/internal/testenv"
)

func renderHTML(t *testing.T, r *report.Report) string {
	t.Helper()
	var b bytes.Buffer
	if err := sink.WriteHTML(&b, r); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func jsonOf(t *testing.T, r *report.Report) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := sink.WriteJSON(&b, r); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// filledReport is a report whose every field, at any depth, holds a value
// of its own (testenv.Fill): a field added to the report later is in it.
func filledReport() *report.Report {
	var r report.Report
	testenv.Fill(&r)
	return &r
}

// TestHTMLShowsEveryField: every value the JSON report carries, found by
// walking the JSON generically, is on the page; every boolean changes the
// page when it flips. A field added to the report and not rendered fails.
func TestHTMLShowsEveryField(t *testing.T) {
	reports := map[string]*report.Report{"every field filled": filledReport(), "the planted device": plantedReport(t)}
	for name, r := range reports {
		t.Run(name, func(t *testing.T) {
			doc := jsonOf(t, r)
			page := renderHTML(t, r)
			missing, err := testenv.PageMissing(doc, page)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range missing {
				t.Errorf("the page does not show %s", m)
			}
			if len(r.Findings) == 0 {
				t.Fatal("no findings: the test proves nothing")
			}
			bools, err := testenv.BoolPaths(doc)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range bools {
				flipped, err := testenv.SetPath(doc, p, false)
				if err != nil {
					t.Fatal(err)
				}
				var fr report.Report
				if err := json.Unmarshal(flipped, &fr); err != nil {
					t.Fatal(err)
				}
				if renderHTML(t, &fr) == page {
					t.Errorf("the page does not change when %v flips", p)
				}
			}
		})
	}
}

// TestHTMLDriftCheckCatches: the walk of TestHTMLShowsEveryField reports a
// finding's field left out of the page, and a field the JSON carries that
// the page was never taught.
func TestHTMLDriftCheckCatches(t *testing.T) {
	r := filledReport()
	doc := jsonOf(t, r)
	page := renderHTML(t, r)
	if m, _ := testenv.PageMissing(doc, page); len(m) != 0 {
		t.Fatalf("the full page misses %v", m)
	}
	// A template that drops the message (or the fix) of a finding.
	for _, field := range []string{"message", "remediation", "reference"} {
		var v string
		switch field {
		case "message":
			v = r.Findings[1].Message
		case "remediation":
			v = r.Findings[1].Remediation
		case "reference":
			v = r.Findings[1].Reference
		}
		m, err := testenv.PageMissing(doc, strings.ReplaceAll(page, v, ""))
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf(".findings[1].%s = %q", field, v)
		if len(m) != 1 || m[0] != want {
			t.Errorf("a page without findings[1].%s: missing %v, want [%s]", field, m, want)
		}
	}
	// A field added to the findings and not rendered.
	added, err := testenv.SetPath(doc, []any{"findings", 0, "addedLater"}, "v9999z")
	if err != nil {
		t.Fatal(err)
	}
	m, err := testenv.PageMissing(added, page)
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 1 || !strings.HasPrefix(m[0], ".findings[0].addedLater") {
		t.Errorf("a field the page does not know: missing %v", m)
	}
}

// plantedReport is the planted device's report (secrets_test.go) after the
// publisher's scrubbing, as a sink gets it.
func plantedReport(t *testing.T) *report.Report {
	t.Helper()
	d := newDevice()
	rep := d.runner.Run(context.Background(), d.defaultPolicy())
	var got *report.Report
	pub := sink.NewPublisher(d.scrub, sinkFunc(func(ev sink.Event) { got = ev.Report }))
	if err := pub.Publish(context.Background(), sink.Event{Time: rep.GeneratedAt, Report: rep, Changed: true}); err != nil {
		t.Fatal(err)
	}
	return got
}

type sinkFunc func(sink.Event)

func (sinkFunc) Name() string { return "func" }
func (f sinkFunc) Publish(_ context.Context, ev sink.Event) error {
	f(ev)
	return nil
}

// TestHTMLSelfContained: the page loads nothing (no script, no element
// that fetches, no style attribute, no link but to anchors and references
// a person follows), its Content-Security-Policy comes first in the head
// and allows its one style sheet by hash.
func TestHTMLSelfContained(t *testing.T) {
	page := renderHTML(t, plantedReport(t))
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	var csp, style string
	var firstMeta []string
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "script", "img", "iframe", "object", "embed", "link", "video", "audio", "source", "picture", "svg", "form", "base":
				t.Errorf("the page has a <%s>", n.Data)
			case "style":
				style = n.FirstChild.Data
			case "meta":
				firstMeta = append(firstMeta, attr(n, "http-equiv")+attr(n, "charset"))
				if attr(n, "http-equiv") == "Content-Security-Policy" {
					csp = attr(n, "content")
				}
			}
			for _, a := range n.Attr {
				switch {
				case a.Key == "style" || a.Key == "src" || a.Key == "srcset" || strings.HasPrefix(a.Key, "on"):
					t.Errorf("<%s %s=%q>", n.Data, a.Key, a.Val)
				case a.Key == "href" && !strings.HasPrefix(a.Val, "#") && !strings.HasPrefix(a.Val, "https://"):
					t.Errorf("<%s href=%q>: a link neither to the page nor to a reference", n.Data, a.Val)
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if len(firstMeta) < 2 || firstMeta[0] != "utf-8" || firstMeta[1] != "Content-Security-Policy" {
		t.Errorf("the head's first metas are %v, want the charset then the Content-Security-Policy", firstMeta)
	}
	sum := sha256.Sum256([]byte(style))
	want := "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; base-uri 'none'; form-action 'none'"
	if csp != want {
		t.Errorf("Content-Security-Policy %q, want %q", csp, want)
	}
	for _, h := range []string{"<h1>", `<h2 id="first">Fix first</h2>`, "<details>", "<summary>", "<table", `@media print`} {
		if !strings.Contains(page, h) {
			t.Errorf("the page has no %s", h)
		}
	}
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// TestHTMLFixFirst: the critical failures lead the page, by module, each
// linked to its finding; passing findings are folded.
func TestHTMLFixFirst(t *testing.T) {
	r := plantedReport(t)
	page := renderHTML(t, r)
	_, first, _ := strings.Cut(page, `id="first"`)
	first, _, _ = strings.Cut(first, `id="att"`)
	n := 0
	for i, f := range r.Findings {
		crit := (f.Status == "fail" || f.Status == "error") && f.Severity == "critical"
		link := fmt.Sprintf(`href="#f%d"`, i+1)
		if crit != strings.Contains(first, link) {
			t.Errorf("finding %d (%s %s %s): in Fix first %v", i+1, f.ID, f.Severity, f.Status, !crit)
		}
		if crit {
			n++
			if !strings.Contains(page, fmt.Sprintf(`<tr id="f%d">`, i+1)) {
				t.Errorf("finding %d is linked to but has no anchor", i+1)
			}
		}
	}
	if n == 0 {
		t.Fatal("the planted device has no critical failure: the test proves nothing")
	}
	_, passed, ok := strings.Cut(page, `id="folded"`)
	if !ok {
		t.Fatal("the page has no folded section")
	}
	if !regexp.MustCompile(`<details><summary>\d+ passing findings`).MatchString(passed) {
		t.Errorf("the passing findings are not folded")
	}
}

// fiftyModuleReport is the 50-module device (testenv.FiftyModules)
// decided from its deployment manifest by check --manifest --format json.
func fiftyModuleReport(t *testing.T) (*report.Report, string) {
	t.Helper()
	d := testenv.FiftyModules(t)
	b, err := d.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "deployment.fifty.json")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := cli.Main(context.Background(), cli.Env{Args: []string{"check", "--manifest", p, "--format", "json"},
		Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }, Environ: func() []string { return nil }})
	var r report.Report
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatalf("exit %d: %v\n%s", code, err, stderr.String())
	}
	if len(r.Inventory.Modules) != 52 {
		t.Fatalf("%d modules, want 52", len(r.Inventory.Modules))
	}
	return &r, p
}

// TestHTMLSize: the 50-module device's page stays under 150 KB.
func TestHTMLSize(t *testing.T) {
	r, _ := fiftyModuleReport(t)
	start := time.Now()
	page := renderHTML(t, r)
	t.Logf("50-module device: %d findings, page %d bytes, rendered in %s", len(r.Findings), len(page), time.Since(start))
	if len(page) >= 150_000 {
		t.Errorf("the 50-module device's page is %d bytes, want under 150 KB", len(page))
	}
	if r.Summary.Counts.Critical == 0 {
		t.Errorf("the 50-module device has no critical failure: its page shows less than it should")
	}
}

// TestPageServesLatest: the page sink serves the latest report at GET and
// HEAD with the page's policy as a header, 503 before the first report,
// nothing to other methods.
func TestPageServesLatest(t *testing.T) {
	p := sink.NewPage()
	get := func(method string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		p.ServeHTTP(w, httptest.NewRequest(method, "/", nil))
		return w
	}
	if w := get(http.MethodGet); w.Code != http.StatusServiceUnavailable {
		t.Errorf("before a report: %d", w.Code)
	}
	r := plantedReport(t)
	if err := p.Publish(context.Background(), sink.Event{Report: r}); err != nil {
		t.Fatal(err)
	}
	w := get(http.MethodGet)
	if w.Code != http.StatusOK || w.Body.String() != renderHTML(t, r) {
		t.Errorf("GET: %d, the page %v", w.Code, w.Body.String() == renderHTML(t, r))
	}
	if h := w.Header(); !strings.HasPrefix(h.Get("Content-Security-Policy"), "default-src 'none'") ||
		h.Get("Content-Type") != "text/html; charset=utf-8" || h.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("headers %v", h)
	}
	if w := get(http.MethodHead); w.Code != http.StatusOK || w.Body.Len() != 0 {
		t.Errorf("HEAD: %d, %d bytes", w.Code, w.Body.Len())
	}
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		if w := get(m); w.Code != http.StatusMethodNotAllowed {
			t.Errorf("%s: %d", m, w.Code)
		}
	}
}
