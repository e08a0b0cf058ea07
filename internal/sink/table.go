package sink

import (
	"context"
	"io"

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
	return report.WriteTable(t.w, ev.Report)
}
