package sink

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/report"
)

// DefaultWidth is the table's width when neither the terminal nor COLUMNS
// tells one.
const DefaultWidth = 80

// Table writes each report as a table for a person at a terminal.
type Table struct {
	w io.Writer
	// Width is the widest line the table writes, in columns (runes); 0
	// writes every row and every message whole (--wide).
	Width int
}

// NewTable returns a Table sink writing to w, DefaultWidth wide.
func NewTable(w io.Writer) *Table { return &Table{w: w, Width: DefaultWidth} }

var _ Sink = (*Table)(nil)

// Name implements Sink.
func (*Table) Name() string { return "table" }

// Publish writes ev's report; an event without one writes nothing.
func (t *Table) Publish(_ context.Context, ev Event) error {
	if ev.Report == nil {
		return nil
	}
	return WriteTable(t.w, ev.Report, t.Width)
}

var statusMark = map[checks.Status]string{checks.Pass: "PASS", checks.Fail: "FAIL", checks.Skip: "SKIP", checks.Error: "ERROR"}

// statusOrder puts failures first, then what could not be decided, what was
// skipped and what passes.
var statusOrder = map[checks.Status]int{checks.Fail: 0, checks.Error: 1, checks.Skip: 2, checks.Pass: 3}

// Column caps of the narrow table: a longer check id or subject is cut.
const (
	maxCheckCol   = 40
	maxSubjectCol = 24
	minMessageCol = 30 // under it, a row's message goes on a line of its own
)

// WriteTable writes the report for a person at a terminal: a line per check
// (per subject where it does not pass), failures first, then the details of
// what failed with how to fix it. Checks that could not be decided for the
// same reason are one row and one block, naming the checks: a root cause is
// said once. Every line fits width columns, long messages cut (the JSON
// report has them whole); width 0 writes every row and message whole.
func WriteTable(w io.Writer, r *report.Report, width int) error {
	t := &tableText{width: width}
	t.header(r)
	causes := errorCauses(r.Findings)
	t.rows(tableRows(r.Findings, causes, width > 0))
	if len(r.Inventory.SourceErrors) > 0 {
		t.line("")
		t.line("fact sources with problems:")
		for _, e := range r.Inventory.SourceErrors {
			t.para("  - ", "    ", e)
		}
	}
	t.details(r.Findings, causes)
	if width > 0 && t.cut {
		t.line("")
		t.para("", "", "(cut to fit "+fmt.Sprint(width)+" columns: --wide or --format json shows every message whole, with its reference)")
	}
	_, err := io.WriteString(w, t.b.String())
	return err
}

// tableText builds the table's lines within a width.
type tableText struct {
	b     strings.Builder
	width int  // 0: no limit
	cut   bool // a line or a reference was cut or left out to fit
}

// line writes s, cut to the width.
func (t *tableText) line(s string) {
	s = strings.TrimRight(s, " ")
	if t.width > 0 && runeLen(s) > t.width {
		s = cutRunes(s, t.width)
		t.cut = true
	}
	t.b.WriteString(s)
	t.b.WriteByte('\n')
}

// fit writes s as it is when it fits the width, else word-wrapped.
func (t *tableText) fit(s string) {
	if t.width <= 0 || runeLen(s) <= t.width {
		t.line(s)
		return
	}
	t.para("", "  ", s)
}

// para writes text word-wrapped to the width: first on the first line,
// hang before each next one. A word longer than a line is cut.
func (t *tableText) para(first, hang, text string) {
	words := strings.Fields(text)
	if t.width <= 0 {
		t.line(first + strings.Join(words, " "))
		return
	}
	cur, n := first, 0
	for _, w := range words {
		if n > 0 && runeLen(cur)+1+runeLen(w) > t.width {
			t.line(cur)
			cur, n = hang, 0
		}
		if n > 0 {
			cur += " "
		}
		cur += w
		n++
	}
	if n > 0 || strings.TrimSpace(cur) != "" {
		t.line(cur)
	}
}

func (t *tableText) header(r *report.Report) {
	t.fit(fmt.Sprintf("edge-readiness  %s  device=%s  engine=%s", r.GeneratedAt.Format("2006-01-02 15:04:05Z07:00"),
		orDash(r.Device.DeviceID, r.Device.Hostname), engineVersion(r)))
	status := fmt.Sprintf("status: %s   score: %d/100", strings.ToUpper(r.Summary.Status), r.Summary.Score)
	counts := fmt.Sprintf("pass %d  fail %d  error %d  skip %d   (%d critical, %d warning)", r.Summary.Counts.Pass, r.Summary.Counts.Fail,
		r.Summary.Counts.Error, r.Summary.Counts.Skip, r.Summary.Counts.Critical, r.Summary.Counts.Warning)
	took := fmt.Sprintf("%dms", r.DurationMs)
	if one := status + "   " + counts + "   " + took; t.width <= 0 || runeLen(one) <= t.width {
		t.line(one)
	} else {
		t.line(status + "   " + took)
		t.fit(counts)
	}
	if r.Summary.Incomplete != "" {
		t.para("incomplete: ", "  ", r.Summary.Incomplete)
	}
	t.line("")
}

// tableRow is one row of the table.
type tableRow struct {
	status, severity, check, subject, message string
	order, rank                               int // status order, severity rank
}

// cause is a reason several checks could not be decided.
type cause struct {
	message string
	ids     []string // the checks, in the report's order, each once
	worst   checks.Finding
	shown   bool
}

// errorCauses groups the errored findings that share their message (the
// same missing fact, said by each check that needs it), by message.
func errorCauses(fs []checks.Finding) map[string]*cause {
	out := map[string]*cause{}
	n := map[string]int{}
	for i := range fs {
		if fs[i].Status == checks.Error {
			n[fs[i].Message]++
		}
	}
	for i := range fs {
		f := &fs[i]
		if f.Status != checks.Error || n[f.Message] < 2 {
			continue
		}
		c := out[f.Message]
		if c == nil {
			c = &cause{message: f.Message, worst: *f}
			out[f.Message] = c
		}
		if len(c.ids) == 0 || c.ids[len(c.ids)-1] != f.ID {
			c.ids = append(c.ids, f.ID)
		}
		if f.Severity.Rank() > c.worst.Severity.Rank() {
			c.worst = *f
		}
	}
	return out
}

// tableRows are the report's rows, failures first, then by severity: a
// check's passing subjects folded in one row and, with fold, the checks of a
// shared cause in one row.
func tableRows(fs []checks.Finding, causes map[string]*cause, fold bool) []tableRow {
	var rows []tableRow
	add := func(status checks.Status, f *checks.Finding, check, subject, msg string) {
		rows = append(rows, tableRow{status: statusMark[status], severity: string(f.Severity), check: check, subject: subject,
			message: oneLine(msg, 0), order: statusOrder[status], rank: f.Severity.Rank()})
	}
	for _, g := range group(fs) {
		if g.passCount > 0 && len(g.others) == 0 {
			subject := "device"
			if g.modules > 0 {
				subject = fmt.Sprintf("%d module(s)", g.modules)
			}
			add(checks.Pass, g.first, g.first.ID, subject, g.first.Message)
			continue
		}
		for _, f := range g.others {
			if c := causes[f.Message]; fold && f.Status == checks.Error && c != nil {
				if !c.shown {
					c.shown = true
					add(checks.Error, &c.worst, fmt.Sprintf("%d checks", len(c.ids)), "-", c.message)
				}
				continue
			}
			add(f.Status, f, f.ID, orDash(f.Module, f.Subject, "device"), f.Message)
		}
		if g.passCount > 0 {
			add(checks.Pass, g.first, g.first.ID, fmt.Sprintf("%d other module(s)", g.passCount), "")
		}
	}
	sort.SliceStable(rows, func(i, j int) bool {
		if rows[i].order != rows[j].order {
			return rows[i].order < rows[j].order
		}
		if rows[i].order <= statusOrder[checks.Error] {
			return rows[i].rank > rows[j].rank
		}
		return false
	})
	return rows
}

// rows writes the rows in columns; the message takes what the width leaves.
// When that is too little the rows are stacked: a skipped row's message goes
// on a line of its own, and the others' are left to "what to fix" below
// (failures and errors) or to --wide (passes).
func (t *tableText) rows(rows []tableRow) {
	head := tableRow{status: "STATUS", severity: "SEVERITY", check: "CHECK", subject: "SUBJECT", message: "MESSAGE"}
	wStatus, wSev, wCheck, wSubject := 0, 0, 0, 0
	for _, r := range append([]tableRow{head}, rows...) {
		wStatus, wSev = max(wStatus, runeLen(r.status)), max(wSev, runeLen(r.severity))
		wCheck, wSubject = max(wCheck, runeLen(r.check)), max(wSubject, runeLen(r.subject))
	}
	if t.width > 0 {
		wCheck, wSubject = min(wCheck, maxCheckCol), min(wSubject, maxSubjectCol)
	}
	prefix := func(r tableRow) string {
		return pad(r.status, wStatus) + pad(r.severity, wSev) + pad(r.check, wCheck) + pad(r.subject, wSubject)
	}
	avail := 0 // 0: no limit
	if t.width > 0 {
		avail = t.width - (wStatus + wSev + wCheck + wSubject + 8)
	}
	stacked := t.width > 0 && avail < minMessageCol
	if stacked {
		t.line(prefix(head))
	} else {
		t.line(prefix(head) + head.message)
	}
	for _, r := range rows {
		switch {
		case !stacked:
			msg := r.message
			if avail > 0 && runeLen(msg) > avail {
				msg, t.cut = cutRunes(msg, avail), true
			}
			t.line(prefix(r) + msg)
		case r.message == "" || r.status != statusMark[checks.Skip]:
			t.line(prefix(r)) // a failure's or an error's message is under "what to fix"
		default:
			t.line(prefix(r))
			msg := "    " + r.message
			if runeLen(msg) > t.width {
				msg, t.cut = cutRunes(msg, t.width), true
			}
			t.line(msg)
		}
	}
}

// pad cuts s to n runes and pads it to n, plus the gap between columns.
func pad(s string, n int) string {
	if runeLen(s) > n {
		s = cutRunes(s, n)
	}
	return s + strings.Repeat(" ", n-runeLen(s)+2)
}

// details writes what to fix: each failure with its remedy, each lone error
// with what would let its check decide, and each shared cause once, with
// that fix and the checks it leaves undecided.
func (t *tableText) details(fs []checks.Finding, causes map[string]*cause) {
	var failing []*checks.Finding
	for i := range fs {
		f := &fs[i]
		if f.Status != checks.Fail && f.Status != checks.Error {
			continue
		}
		if f.Status == checks.Error && causes[f.Message] != nil {
			continue
		}
		failing = append(failing, f)
	}
	sort.SliceStable(failing, func(i, j int) bool {
		a, b := failing[i], failing[j]
		if statusOrder[a.Status] != statusOrder[b.Status] {
			return statusOrder[a.Status] < statusOrder[b.Status]
		}
		return a.Severity.Rank() > b.Severity.Rank()
	})
	if len(failing) == 0 && len(causes) == 0 {
		return
	}
	t.line("")
	t.line("what to fix:")
	for _, f := range failing {
		t.line("")
		t.para("", "  ", fmt.Sprintf("[%s] %s %s%s", f.Severity, f.ID, f.Title, forModule(f.Module)))
		t.para("  ", "  ", f.Message)
		if f.Remediation != "" {
			t.para("  fix: ", "       ", f.Remediation)
		}
		t.reference(f.Reference)
	}
	var shared []*cause
	for _, c := range causes {
		shared = append(shared, c)
	}
	sort.Slice(shared, func(i, j int) bool {
		if len(shared[i].ids) != len(shared[j].ids) {
			return len(shared[i].ids) > len(shared[j].ids)
		}
		return shared[i].message < shared[j].message
	})
	for _, c := range shared {
		t.line("")
		t.para("", "  ", fmt.Sprintf("[%s] %d checks cannot decide, for one reason:", c.worst.Severity, len(c.ids)))
		t.para("  ", "  ", c.message)
		if c.worst.Remediation != "" { // an error's fix: what lets the checks decide, the same for all
			t.para("  fix: ", "       ", c.worst.Remediation)
		}
		t.para("  checks: ", "          ", strings.Join(c.ids, ", "))
	}
}

// reference writes a finding's reference link when it fits the width
// whole: a link cut in two is no link.
func (t *tableText) reference(ref string) {
	if ref == "" {
		return
	}
	line := "  see: " + ref
	if t.width > 0 && runeLen(line) > t.width {
		t.cut = true
		return
	}
	t.line(line)
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

// oneLine folds s's white space to single spaces and cuts it to n runes
// (n 0: no cut).
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if n > 0 && runeLen(s) > n {
		return cutRunes(s, n)
	}
	return s
}

func runeLen(s string) int { return len([]rune(s)) }

// cutRunes cuts s to n runes, the last one an ellipsis.
func cutRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	if n <= 1 {
		return string(r[:n])
	}
	return string(r[:n-1]) + "…"
}
