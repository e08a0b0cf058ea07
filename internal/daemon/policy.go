package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/cycle"
	"github.com/edge-readiness/edge-readiness/internal/policy"
	"github.com/edge-readiness/edge-readiness/internal/report"
	"github.com/edge-readiness/edge-readiness/internal/rules"
	"github.com/edge-readiness/edge-readiness/internal/sink"
)

// priorState is the summary a previous run left in the twin.
type priorState struct {
	failing   map[string]string
	truncated bool
}

// readTwin reads the twin, retrying with backoff until ctx ends.
func (d *Daemon) readTwin(ctx context.Context) (map[string]any, map[string]any, error) {
	backoff := time.Second
	for {
		desired, reported, err := d.Hub.Twin(ctx)
		if err == nil {
			return desired, reported, nil
		}
		d.Log.Warn().Err(err).Dur("retryIn", backoff).Msg("cannot read the module twin")
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Minute)
	}
}

// adoptReported passes the reported properties as IoT Hub has them to the
// sinks with the next event, so that the next patch is computed against
// them. At start it also recovers the previous run's failing findings, so
// that a restart announces no false changes.
func (d *Daemon) adoptReported(reported map[string]any, atStart bool) {
	if reported == nil {
		reported = map[string]any{}
	}
	d.reported = reported
	r, _ := reported[sink.KeyReadiness].(map[string]any)
	if !atStart || r == nil {
		return
	}
	if s := sink.ReadReadiness(r); s != nil && s.Status != "" {
		p := &priorState{failing: map[string]string{}, truncated: s.FailingOmitted > 0}
		for _, f := range s.Failing {
			p.failing[f.ID+"/"+f.Module+"/"+f.Subject] = f.Status
		}
		d.prior = p
		d.Log.Info().Str("status", s.Status).Int("failing", len(s.Failing)).Msg("resuming from the state reported by the previous run")
	}
}

// applyDesired decodes the desired properties as the policy; a rejected
// policy leaves the last good one in force. Either way the acknowledgement
// goes with the next event. It reports whether the policy changed.
func (d *Daemon) applyDesired(desired map[string]any) bool {
	version := int64(0)
	if v, ok := desired["$version"].(float64); ok {
		version = int64(v)
	}
	if d.pol.Source == "twin" && d.pol.Version == version {
		return false
	}
	if d.ack != nil && d.ack.Version == version && d.ack.Status == sink.PolicyRejected {
		return false
	}
	data, err := json.Marshal(desired)
	if err != nil {
		return false
	}
	p, err := policy.Decode(data, d.Specs)
	var compiled []*checks.Check
	if err == nil {
		compiled, err = rules.Compile(p) // once per policy, never per cycle
	}
	if err != nil {
		problems := []string{err.Error()}
		var perr *policy.Error
		if errors.As(err, &perr) {
			problems = perr.Problems
		}
		d.ack = &sink.PolicyAck{Version: version, Status: sink.PolicyRejected, Errors: problems, AppliedVersion: d.pol.Version}
		d.Log.Warn().Int64("version", version).Strs("errors", problems).Int64("inForce", d.pol.Version).
			Msg("policy rejected; the last good policy stays in force")
		return false
	}
	d.pol = cycle.PolicyRef{Policy: p, Source: "twin", Version: version, Rules: compiled}
	d.ack = &sink.PolicyAck{Version: version, Status: sink.PolicyApplied, Errors: []string{}, AppliedVersion: version}
	if d.OnPolicy != nil {
		d.OnPolicy(p)
	}
	d.Log.Info().Int64("version", version).Str("profile", p.Profile).Dur("interval", p.Interval).
		Int("exemptions", len(p.Exemptions)).Int("rules", len(compiled)).Msg("policy applied")
	return true
}

// previousStatuses is the baseline for change messages: the last cycle's, or
// after a restart what the twin said (only failing findings are known there).
func (d *Daemon) previousStatuses(cur *report.Report) map[string]string {
	if d.baseline != nil || d.prior == nil {
		return d.baseline
	}
	prev := map[string]string{}
	for k, st := range d.prior.failing {
		prev[k] = st
	}
	for i := range cur.Findings {
		f := &cur.Findings[i]
		k := f.Key()
		if _, ok := prev[k]; ok {
			continue
		}
		failing := f.Status == "fail" || f.Status == "error"
		switch {
		case d.prior.truncated || !failing:
			prev[k] = string(f.Status) // unknown before: assume unchanged
		default:
			prev[k] = "pass" // it was not among the failing findings
		}
	}
	return prev
}
