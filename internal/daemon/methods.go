package daemon

import (
	"context"
	"encoding/json"
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
		m, err := sink.ToMap(sink.Compact(rep, sink.SummaryBudget))
		if err != nil {
			return 500, map[string]any{"error": err.Error()}
		}
		return 200, m
	case <-time.After(methodTimeout):
		return 504, map[string]any{"error": "the cycle did not finish in time"}
	}
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
