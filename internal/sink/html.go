package sink

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed" // the page's template and style
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/policy"
	"github.com/edge-readiness/edge-readiness/internal/report"
)

//go:embed html.tmpl
var htmlTemplate string

//go:embed html.css
var htmlCSS string

// PageStyle is the style sheet of the HTML pages (the device's here, the
// fleet's in internal/fleet), set inline in a <style> element.
func PageStyle() template.CSS { return template.CSS(htmlCSS) } //nolint:gosec // our own embedded file

// PageCSP is the pages' Content-Security-Policy: nothing may load, not even
// from the page's own origin; the one inline style sheet is allowed by its
// hash. A page under it makes no request of any kind, and a viewer that
// adds its own policy (a CI's artefact viewer) finds nothing to block.
var PageCSP = "default-src 'none'; style-src '" + styleHash() + "'; base-uri 'none'; form-action 'none'"

func styleHash() string {
	sum := sha256.Sum256([]byte(htmlCSS))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

// PageFuncs are the template functions the pages share.
var PageFuncs = template.FuncMap{
	"time":     PageTime,
	"statusOf": statusLabel,
	"pct":      func(n int) int { return min(max(n, 0), 100) },
	"bytes":    humanBytes,
	"base":     path.Base,
	"refLabel": refLabel,
}

// refLabel is a reference's link text: the URL without its scheme and
// host when it is Microsoft Learn's, else the URL (printed pages show the
// whole address after the link).
func refLabel(u string) string {
	if rest, ok := strings.CutPrefix(u, "https://learn.microsoft.com/"); ok {
		return "Microsoft Learn: " + rest
	}
	return u
}

// PageTime writes a time as the pages show it: RFC 3339 in UTC, to the second.
func PageTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func statusLabel(s string) string {
	switch s {
	case report.NotReady:
		return "not ready"
	case report.Ready, report.Degraded:
		return s
	}
	return s
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

var deviceTmpl = template.Must(template.New("device").Funcs(PageFuncs).Parse(htmlTemplate))

// HTML writes each report as one self-contained HTML page: no script, no
// request of any kind, readable without its style sheet and printable.
type HTML struct{ w io.Writer }

// NewHTML returns an HTML sink writing to w.
func NewHTML(w io.Writer) *HTML { return &HTML{w: w} }

var _ Sink = (*HTML)(nil)

// Name implements Sink.
func (*HTML) Name() string { return "html" }

// Publish writes ev's report; an event without one writes nothing.
func (h *HTML) Publish(_ context.Context, ev Event) error {
	if ev.Report == nil {
		return nil
	}
	return WriteHTML(h.w, ev.Report)
}

// WriteHTML renders r as the device's page.
func WriteHTML(w io.Writer, r *report.Report) error {
	var buf bytes.Buffer
	if err := deviceTmpl.Execute(&buf, newDevicePage(r)); err != nil {
		return fmt.Errorf("rendering the HTML page: %w", err)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// Page keeps the latest report rendered as the device's page and serves it
// (module mode: at / of the metrics listener). It serves that page and
// nothing else, to GET and HEAD only.
type Page struct {
	mu   sync.Mutex
	body []byte
	err  error
}

// NewPage returns a page sink with no report yet.
func NewPage() *Page { return &Page{} }

var _ Sink = (*Page)(nil)

// Name implements Sink.
func (*Page) Name() string { return "page" }

// Publish implements Sink: the page follows the latest report.
func (p *Page) Publish(_ context.Context, ev Event) error {
	if ev.Report == nil {
		return nil
	}
	var buf bytes.Buffer
	err := WriteHTML(&buf, ev.Report)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		p.err = err
		return err
	}
	p.body, p.err = buf.Bytes(), nil
	return nil
}

// ServeHTTP serves the latest page; 503 before the first report.
func (p *Page) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", PageCSP+"; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p.mu.Lock()
	body := p.body
	p.mu.Unlock()
	if body == nil {
		h.Set("Retry-After", "30")
		http.Error(w, "no report yet: the first cycle has not finished", http.StatusServiceUnavailable)
		return
	}
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(body)
	}
}

// devicePage is what the template shows of a report: the report itself,
// and its findings grouped by check into what needs attention, what was
// skipped and what passed.
type devicePage struct {
	R         *report.Report
	CSS       template.CSS
	CSP       string
	Title     string
	Source    string // what the findings were decided from, in words
	Runtime   string // the IoT Edge runtime's release, from edgeAgent's image
	FixFirst  []moduleFixes
	Attention []htmlGroup
	Skipped   []htmlGroup
	Passed    []htmlGroup
	NPassed   int
	NSkipped  int
	Sections  []sectionRow
}

type moduleFixes struct {
	Module string
	Items  []fixItem
}

type fixItem struct {
	Anchor, Title, ID, Message, Status string
}

type sectionRow struct {
	Name string
	report.SectionScore
}

// htmlGroup is a check's findings of one kind (attention, skipped,
// passed): what all of them share is shown once, at the group's head.
type htmlGroup struct {
	Head     checks.Finding // the first finding: id, title, fix and reference of the check
	Severity string         // the worst severity of the group
	Rows     []htmlRow
	Lines    bool   // some finding points at a line (a column of its own)
	ShowFix  bool   // the first group of its check: shows the fix and reference
	FixAt    string // else the status of the head of the group that shows them
}

type htmlRow struct {
	Anchor  string
	F       checks.Finding
	Differs []kv // fields differing from the group's head
	Ev      []kv
	URI     string // the location's file, when not the report's manifest
}

type kv struct{ K, V string }

func newDevicePage(r *report.Report) *devicePage {
	p := &devicePage{R: r, CSS: PageStyle(), CSP: PageCSP}
	name := r.Device.DeviceID
	switch {
	case name == "" && r.Device.Manifest != "":
		name = path.Base(r.Device.Manifest)
	case name == "":
		name = r.Device.Hostname
	}
	if name == "" {
		name = "device"
	}
	p.Title = statusLabel(r.Summary.Status) + " · " + name + " · edge-readiness"
	switch {
	case r.Device.Manifest != "":
		p.Source = "the deployment manifest " + r.Device.Manifest
	case r.Device.RuntimeMode == "module":
		p.Source = "the device, by the readiness module inside IoT Edge"
	default:
		p.Source = "the device (" + r.Device.RuntimeMode + ")"
	}
	for _, m := range r.Inventory.Modules {
		if m.Name == "edgeAgent" {
			if i := strings.LastIndexByte(m.Image, ':'); i >= 0 && !strings.Contains(m.Image[i:], "/") {
				p.Runtime = m.Image[i+1:]
			}
		}
	}
	for name, s := range r.Summary.Sections {
		p.Sections = append(p.Sections, sectionRow{Name: name, SectionScore: s})
	}
	sort.Slice(p.Sections, func(i, j int) bool { return p.Sections[i].Name < p.Sections[j].Name })

	type key struct {
		id   string
		kind int
	}
	const (
		attention = iota
		skipped
		passed
	)
	groups := map[key]*htmlGroup{}
	var order []key
	fixes := map[string]*moduleFixes{}
	var fixOrder []string
	for i := range r.Findings {
		f := r.Findings[i]
		kind := attention
		switch f.Status {
		case checks.Pass:
			kind = passed
		case checks.Skip:
			kind = skipped
		}
		k := key{f.ID, kind}
		g := groups[k]
		if g == nil {
			g = &htmlGroup{Head: f, Severity: string(f.Severity)}
			groups[k] = g
			order = append(order, k)
		}
		if sevRank(string(f.Severity)) > sevRank(g.Severity) {
			g.Severity = string(f.Severity)
		}
		row := htmlRow{F: f, Differs: differs(g.Head, f), Ev: evidence(f.Evidence, f.Message)}
		if kind == attention {
			row.Anchor = "f" + strconv.Itoa(i+1) // what needs attention is linked to, and shows its status
		}
		if f.Location != nil && f.Location.URI != r.Device.Manifest {
			row.URI = f.Location.URI
		}
		g.Rows = append(g.Rows, row)
		if f.Location != nil && f.Location.Line > 0 {
			g.Lines = true
		}
		if kind == attention && f.Severity == policy.Critical {
			m := f.Module
			if m == "" {
				m = "the device"
			}
			if fixes[m] == nil {
				fixes[m] = &moduleFixes{Module: m}
				fixOrder = append(fixOrder, m)
			}
			fixes[m].Items = append(fixes[m].Items, fixItem{Anchor: row.Anchor, Title: f.Title, ID: f.ID, Message: f.Message,
				Status: string(f.Status)})
		}
	}
	sort.SliceStable(fixOrder, func(i, j int) bool {
		a, b := fixOrder[i], fixOrder[j]
		if (a == "the device") != (b == "the device") {
			return a == "the device"
		}
		return a < b
	})
	for _, m := range fixOrder {
		p.FixFirst = append(p.FixFirst, *fixes[m])
	}
	for _, k := range order {
		g := *groups[k]
		switch k.kind {
		case attention:
			p.Attention = append(p.Attention, g)
		case skipped:
			p.Skipped = append(p.Skipped, g)
			p.NSkipped += len(g.Rows)
		default:
			p.Passed = append(p.Passed, g)
			p.NPassed += len(g.Rows)
		}
	}
	sort.SliceStable(p.Attention, func(i, j int) bool {
		return sevRank(p.Attention[i].Severity) > sevRank(p.Attention[j].Severity)
	})
	// A check's fix and reference are shown once, in its first group on
	// the page, unless another group's differ.
	shown := map[string]checks.Finding{}
	for _, gs := range [][]htmlGroup{p.Attention, p.Passed, p.Skipped} {
		for i := range gs {
			h := gs[i].Head
			first, ok := shown[h.ID]
			if ok && first.Remediation == h.Remediation && first.Reference == h.Reference {
				gs[i].FixAt = string(first.Status)
				continue
			}
			gs[i].ShowFix = true
			if !ok {
				shown[h.ID] = h
			}
		}
	}
	return p
}

func sevRank(s string) int {
	switch s {
	case string(policy.Critical):
		return 3
	case string(policy.Warning):
		return 2
	case string(policy.Info):
		return 1
	}
	return 0
}

// differs lists what of f the group's head does not already show.
func differs(head, f checks.Finding) []kv {
	var out []kv
	add := func(k, a, b string) {
		if a != b && b != "" {
			out = append(out, kv{k, b})
		}
	}
	add("title", head.Title, f.Title)
	add("section", head.Section, f.Section)
	add("practice", head.Seed, f.Seed)
	add("severity", string(head.Severity), string(f.Severity))
	add("fix", head.Remediation, f.Remediation)
	add("reference", head.Reference, f.Reference)
	add("iotedge check", head.IotedgeCheck, f.IotedgeCheck)
	return out
}

// evidence lists a finding's evidence by key, values that are no strings
// as compact JSON; a value the message already tells is left out.
func evidence(ev map[string]any, message string) []kv {
	out := make([]kv, 0, len(ev))
	for k, v := range ev {
		s, ok := v.(string)
		if !ok {
			b, err := json.Marshal(v)
			if err != nil {
				b = []byte(fmt.Sprint(v))
			}
			s = string(b)
		}
		if s != "" && strings.Contains(message, s) {
			continue
		}
		out = append(out, kv{k, s})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].K < out[j].K })
	return out
}
