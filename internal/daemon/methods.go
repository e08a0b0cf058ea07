package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/hub"
	"github.com/edge-readiness/edge-readiness/internal/report"
	"github.com/edge-readiness/edge-readiness/internal/sink"
)

// registerMethods serves runChecks and getReport. Every reply is scrubbed on
// its way out, whatever the handler put in it.
func (d *Daemon) registerMethods(ctx context.Context) {
	for name, h := range map[string]hub.MethodHandler{"runChecks": d.runChecksMethod, "getReport": d.getReportMethod} {
		if err := d.Hub.RegisterMethod(ctx, name, d.scrubbed(h)); err != nil {
			d.Log.Error().Err(err).Str("method", name).Msg("direct method unavailable")
		}
	}
}

func (d *Daemon) scrubbed(h hub.MethodHandler) hub.MethodHandler {
	return func(payload map[string]any) (int, map[string]any) {
		code, reply := h(payload)
		return code, sink.Scrub(d.scrub, reply)
	}
}

// runChecksMethod runs a cycle now and replies with its summary.
func (d *Daemon) runChecksMethod(map[string]any) (int, map[string]any) {
	reply := make(chan *report.Report, 1)
	select {
	case d.runNow <- reply:
	case <-time.After(methodTimeout):
		return 503, map[string]any{"error": "busy: a cycle could not be started"}
	}
	select {
	case rep := <-reply:
		if rep == nil {
			return 503, map[string]any{"error": "stopping"}
		}
		m, err := methodSummary(rep)
		if err != nil {
			return 500, map[string]any{"error": err.Error()}
		}
		return 200, m
	case <-time.After(methodTimeout):
		return 504, map[string]any{"error": "the cycle did not finish in time"}
	}
}

// methodSummaryBudget keeps runChecks' answer in one billed message: IoT
// Hub bills a method's response in 4 KB blocks (the twin's 8 KB summary
// cost two). The rest of the failing findings are counted in
// failingOmitted; getReport answers with the whole report.
const methodSummaryBudget = 4000

// methodSummary is the twin summary of rep within methodSummaryBudget bytes
// of JSON; on a catalog whose per-check statuses alone would not fit, those
// are left out too (the failing findings and counts stay).
func methodSummary(rep *report.Report) (map[string]any, error) {
	s := sink.Compact(rep, methodSummaryBudget)
	if len(s.Failing) == 0 && s.FailingOmitted > 0 {
		// The statuses took the whole budget: give their room to the findings.
		b, err := json.Marshal(s.Checks)
		if err != nil {
			return nil, fmt.Errorf("encoding the summary: %w", err)
		}
		s = sink.Compact(rep, methodSummaryBudget+len(b))
		s.Checks = nil
	}
	return sink.ToMap(s)
}

// getReportMethod replies with the latest report, trimmed to the method payload limit.
func (d *Daemon) getReportMethod(map[string]any) (int, map[string]any) {
	rep := d.latest()
	if rep == nil {
		return 404, map[string]any{"error": "no cycle has completed yet"}
	}
	b, err := sink.Fit(rep, sink.MethodLimit)
	if err != nil {
		return 500, map[string]any{"error": err.Error()}
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return 500, map[string]any{"error": err.Error()}
	}
	return 200, m
}
