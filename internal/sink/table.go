package sink

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/report"
)

// Table writes each report as a table for a person at a terminal.
type Table struct{ w io.Writer }

// NewTable returns a Table sink writing to w.
func NewTable(w io.Writer) *Table { return &Table{w: w} }

var _ Sink = (*Table)(nil)

// Name implements Sink.
func (*Table) Name() string { return "table" }

// Publish writes ev's report; an event without one writes nothing.
func (t *Table) Publish(_ context.Context, ev Event) error {
	if ev.Report == nil {
		return nil
	}
	return WriteTable(t.w, ev.Report)
}

var statusMark = map[checks.Status]string{checks.Pass: "PASS", checks.Fail: "FAIL", checks.Skip: "SKIP", checks.Error: "ERROR"}

// WriteTable writes the report for a person at a terminal: one line per
// check, then the details of what failed with how to fix it.
func WriteTable(w io.Writer, r *report.Report) error {
	var b strings.Builder
	fmt.Fprintf(&b, "edge-readiness  %s  device=%s  engine=%s\n", r.GeneratedAt.Format("2006-01-02 15:04:05Z07:00"),
		orDash(r.Device.DeviceID, r.Device.Hostname), engineVersion(r))
	fmt.Fprintf(&b, "status: %s   score: %d/100   pass %d  fail %d  error %d  skip %d   (%d critical, %d warning)   %dms\n\n",
		strings.ToUpper(r.Summary.Status), r.Summary.Score, r.Summary.Counts.Pass, r.Summary.Counts.Fail,
		r.Summary.Counts.Error, r.Summary.Counts.Skip, r.Summary.Counts.Critical, r.Summary.Counts.Warning, r.DurationMs)

	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STATUS\tSEVERITY\tCHECK\tSUBJECT\tMESSAGE")
	var details []*checks.Finding
	for _, g := range group(r.Findings) {
		if g.passCount > 0 && len(g.others) == 0 {
			subject := "device"
			if g.modules > 0 {
				subject = fmt.Sprintf("%d module(s)", g.modules)
			}
			fmt.Fprintf(tw, "PASS\t%s\t%s\t%s\t%s\n", g.first.Severity, g.first.ID, subject, oneLine(g.first.Message, 90))
			continue
		}
		for _, f := range g.others {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", statusMark[f.Status], f.Severity, f.ID, orDash(f.Module, f.Subject, "device"), oneLine(f.Message, 90))
			if f.Status == checks.Fail || f.Status == checks.Error {
				details = append(details, f)
			}
		}
		if g.passCount > 0 {
			fmt.Fprintf(tw, "PASS\t%s\t%s\t%d other module(s)\t\n", g.first.Severity, g.first.ID, g.passCount)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.Inventory.SourceErrors) > 0 {
		b.WriteString("\nfact sources with problems:\n")
		for _, e := range r.Inventory.SourceErrors {
			fmt.Fprintf(&b, "  - %s\n", e)
		}
	}
	if len(details) > 0 {
		b.WriteString("\nwhat to fix:\n")
		for _, f := range details {
			fmt.Fprintf(&b, "\n[%s] %s %s%s\n  %s\n", f.Severity, f.ID, f.Title, forModule(f.Module), f.Message)
			if f.Remediation != "" {
				fmt.Fprintf(&b, "  fix: %s\n", f.Remediation)
			}
			if f.Reference != "" {
				fmt.Fprintf(&b, "  see: %s\n", f.Reference)
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

type checkGroup struct {
	first     *checks.Finding
	passCount int
	modules   int
	others    []*checks.Finding
}

func group(fs []checks.Finding) []*checkGroup {
	var out []*checkGroup
	idx := map[string]*checkGroup{}
	for i := range fs {
		f := &fs[i]
		g := idx[f.ID]
		if g == nil {
			g = &checkGroup{first: f}
			idx[f.ID] = g
			out = append(out, g)
		}
		if f.Module != "" {
			g.modules++
		}
		if f.Status == checks.Pass {
			g.passCount++
			if g.first.Status != checks.Pass {
				g.first = f
			}
			continue
		}
		g.others = append(g.others, f)
	}
	return out
}

func forModule(m string) string {
	if m == "" {
		return ""
	}
	return " (module " + m + ")"
}

func engineVersion(r *report.Report) string {
	if r.Device.Manifest != "" {
		return "none, manifest=" + r.Device.Manifest
	}
	if r.Engine == nil {
		return "unreachable"
	}
	return r.Engine.ServerVersion
}

func orDash(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return "-"
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len([]rune(s)) > n {
		return string([]rune(s)[:n-1]) + "…"
	}
	return s
}
