package sink

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/edge-readiness/edge-readiness/internal/report"
)

// JSON writes each report as an indented JSON document.
type JSON struct{ w io.Writer }

// NewJSON returns a JSON sink writing to w.
func NewJSON(w io.Writer) *JSON { return &JSON{w: w} }

var _ Sink = (*JSON)(nil)

// Name implements Sink.
func (*JSON) Name() string { return "json" }

// Publish writes ev's report; an event without one writes nothing.
func (j *JSON) Publish(_ context.Context, ev Event) error {
	if ev.Report == nil {
		return nil
	}
	return WriteJSON(j.w, ev.Report)
}

// WriteJSON writes the report as indented JSON.
func WriteJSON(w io.Writer, r *report.Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("writing report: %w", err)
	}
	return nil
}
