// Package daemon is module mode: it takes the policy from the module twin,
// runs cycles, and pushes state upstream like node-problem-detector's
// condition manager: the twin summary when it changes (plus a heartbeat), the
// full report on change and at the heartbeat, a message per changed finding,
// a resync after every reconnection.
package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/edge-readiness/edge-readiness/internal/cycle"
	"github.com/edge-readiness/edge-readiness/internal/hub"
	"github.com/edge-readiness/edge-readiness/internal/policy"
	"github.com/edge-readiness/edge-readiness/internal/report"
)

// Hub is what the daemon needs of the IoT Hub connection.
type Hub interface {
	Twin(ctx context.Context) (desired, reported map[string]any, err error)
	PatchReported(ctx context.Context, patch map[string]any) error
	Send(ctx context.Context, output string, body []byte, props map[string]string) error
	RegisterMethod(ctx context.Context, name string, h hub.MethodHandler) error
	Reconnected() <-chan struct{}
	DesiredChanged() <-chan struct{}
}

var _ Hub = (*hub.Client)(nil)

// Cycler runs one cycle.
type Cycler interface {
	Run(ctx context.Context, pol cycle.PolicyRef) *report.Report
}

// Defaults.
const (
	DefaultOutput   = "readiness"
	DefaultMaxQueue = 200
	flushTimeout    = 5 * time.Second
	methodTimeout   = 90 * time.Second
)

// Message types (application property messageType).
const (
	TypeReport = "report"
	TypeChange = "change"
)

// Daemon runs module mode.
type Daemon struct {
	Hub      Hub
	Cycle    Cycler
	Specs    []policy.CheckSpec
	Log      zerolog.Logger
	Now      func() time.Time
	Output   string
	MaxQueue int

	pol      cycle.PolicyRef
	ack      map[string]any
	reported map[string]any    // our keys of the reported properties, as IoT Hub has them
	baseline map[string]string // finding statuses of the last cycle; nil: none yet
	prior    *priorState       // what the twin said before this process's first cycle
	lastFull time.Time
	lastBeat string
	queue    []message
	dropped  int
	runNow   chan chan *report.Report

	mu   sync.Mutex
	last *report.Report
}

type message struct {
	kind  string
	body  []byte         // change messages
	rep   *report.Report // report messages: marshalled when sent, with the drop count of that moment
	props map[string]string
}

// priorState is the summary a previous run left in the twin.
type priorState struct {
	failing   map[string]string
	truncated bool
}

func (d *Daemon) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

// Run runs until ctx ends, then flushes the final state.
func (d *Daemon) Run(ctx context.Context) error {
	if d.Output == "" {
		d.Output = DefaultOutput
	}
	if d.MaxQueue <= 0 {
		d.MaxQueue = DefaultMaxQueue
	}
	d.runNow = make(chan chan *report.Report)
	d.pol = cycle.PolicyRef{Policy: policy.Default(d.Specs), Source: "default"}

	desired, reported, err := d.readTwin(ctx)
	if err != nil {
		return err
	}
	d.adoptReported(reported, true)
	d.applyDesired(desired)
	for name, h := range map[string]hub.MethodHandler{"runChecks": d.runChecksMethod, "getReport": d.getReportMethod} {
		if err := d.Hub.RegisterMethod(ctx, name, h); err != nil {
			d.Log.Error().Err(err).Str("method", name).Msg("direct method unavailable")
		}
	}

	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			d.shutdown()
			return nil
		case <-timer.C:
			d.cycle(ctx)
			timer.Reset(d.pol.Policy.Interval)
		case reply := <-d.runNow:
			reply <- d.cycle(ctx)
			resetTimer(timer, d.pol.Policy.Interval)
		case <-d.Hub.DesiredChanged():
			desired, _, err := d.readTwin(ctx)
			if err != nil {
				continue
			}
			if d.applyDesired(desired) {
				d.cycle(ctx)
				resetTimer(timer, d.pol.Policy.Interval)
			} else {
				d.publish(ctx, false)
			}
		case <-d.Hub.Reconnected():
			desired, reported, err := d.readTwin(ctx)
			if err != nil {
				continue
			}
			d.adoptReported(reported, false)
			d.resync()
			if d.applyDesired(desired) {
				d.cycle(ctx)
				resetTimer(timer, d.pol.Policy.Interval)
			} else {
				d.publish(ctx, false)
			}
		}
	}
}

func resetTimer(t *time.Timer, d time.Duration) {
	if !t.Stop() {
		select {
		case <-t.C:
		default:
		}
	}
	t.Reset(d)
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

// adoptReported takes the reported properties as IoT Hub has them, so that
// the next patch is computed against them. At start it also recovers the
// previous run's failing findings, so that a restart announces no false changes.
func (d *Daemon) adoptReported(reported map[string]any, atStart bool) {
	d.reported = map[string]any{}
	for _, k := range []string{"readiness", "policy"} {
		if v, ok := reported[k]; ok {
			d.reported[k] = v
		}
	}
	r, _ := d.reported["readiness"].(map[string]any)
	if hb, ok := r["heartbeat"].(string); ok {
		d.lastBeat = hb
	}
	if !atStart || r == nil {
		return
	}
	var s report.TwinSummary
	if b, err := json.Marshal(r); err == nil && json.Unmarshal(b, &s) == nil && s.Status != "" {
		p := &priorState{failing: map[string]string{}, truncated: s.FailingOmitted > 0}
		for _, f := range s.Failing {
			p.failing[f.ID+"/"+f.Module+"/"+f.Subject] = f.Status
		}
		d.prior = p
		d.Log.Info().Str("status", s.Status).Int("failing", len(s.Failing)).Msg("resuming from the state reported by the previous run")
	}
}

// applyDesired decodes the desired properties as the policy; a rejected
// policy leaves the last good one in force. It reports whether the policy changed.
func (d *Daemon) applyDesired(desired map[string]any) bool {
	version := int64(0)
	if v, ok := desired["$version"].(float64); ok {
		version = int64(v)
	}
	if d.pol.Source == "twin" && d.pol.Version == version {
		return false
	}
	if prev, ok := d.ack["version"].(int64); ok && prev == version && d.ack["status"] == "rejected" {
		return false
	}
	data, err := json.Marshal(desired)
	if err != nil {
		return false
	}
	p, err := policy.Decode(data, d.Specs)
	if err != nil {
		problems := []string{err.Error()}
		var perr *policy.Error
		if errors.As(err, &perr) {
			problems = perr.Problems
		}
		d.ack = map[string]any{"version": version, "status": "rejected", "errors": problems, "appliedVersion": d.pol.Version}
		d.Log.Warn().Int64("version", version).Strs("errors", problems).Int64("inForce", d.pol.Version).
			Msg("policy rejected; the last good policy stays in force")
		return false
	}
	d.pol = cycle.PolicyRef{Policy: p, Source: "twin", Version: version}
	d.ack = map[string]any{"version": version, "status": "applied", "errors": []string{}, "appliedVersion": version}
	d.Log.Info().Int64("version", version).Str("profile", p.Profile).Dur("interval", p.Interval).
		Int("exemptions", len(p.Exemptions)).Msg("policy applied")
	return true
}

// cycle runs the checks and pushes what changed.
func (d *Daemon) cycle(ctx context.Context) *report.Report {
	rep := d.Cycle.Run(ctx, d.pol)
	if ctx.Err() != nil {
		return nil // cut short by shutdown: its findings are not facts
	}
	now := d.now()
	changes := report.Changes(d.previousStatuses(rep), rep)
	d.baseline = report.Statuses(rep)
	d.prior = nil

	d.mu.Lock()
	prev := d.last
	d.last = rep
	d.mu.Unlock()

	for _, c := range changes {
		body, err := json.Marshal(changeMessage{SchemaVersion: report.SchemaVersion, GeneratedAt: rep.GeneratedAt,
			Device: rep.Device, Status: rep.Summary.Status, Change: c})
		if err != nil {
			continue
		}
		d.enqueue(message{kind: TypeChange, body: body, props: map[string]string{
			"messageType": TypeChange, "status": rep.Summary.Status, "checkId": c.ID, "findingStatus": c.To}})
	}
	heartbeat := now.Sub(d.lastFull) >= d.pol.Policy.Heartbeat
	summaryChanged := prev == nil || len(changes) > 0 || prev.Summary.Status != rep.Summary.Status ||
		prev.Summary.Score != rep.Summary.Score
	if summaryChanged || heartbeat {
		d.enqueueReport(rep)
		d.lastFull = now
	}
	d.Log.Info().Str("status", rep.Summary.Status).Int("score", rep.Summary.Score).Int("critical", rep.Summary.Counts.Critical).
		Int("warning", rep.Summary.Counts.Warning).Int("changes", len(changes)).Int64("durationMs", rep.DurationMs).Msg("cycle done")
	d.publish(ctx, heartbeat)
	return rep
}

// resync queues the latest report after a reconnection, so that IoT Hub has
// the current state whatever was lost while edgeHub was away.
func (d *Daemon) resync() {
	d.mu.Lock()
	rep := d.last
	d.mu.Unlock()
	if rep != nil {
		d.enqueueReport(rep)
		d.lastFull = d.now()
	}
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

type changeMessage struct {
	SchemaVersion string        `json:"schemaVersion"`
	GeneratedAt   time.Time     `json:"generatedAt"`
	Device        report.Device `json:"device"`
	Status        string        `json:"status"` // the device's status after the change
	Change        report.Change `json:"change"`
}

func (d *Daemon) enqueueReport(rep *report.Report) {
	// Only the latest report matters: replace a queued older one.
	kept := d.queue[:0]
	for _, m := range d.queue {
		if m.kind != TypeReport {
			kept = append(kept, m)
		}
	}
	d.queue = kept
	d.enqueue(message{kind: TypeReport, rep: rep, props: map[string]string{"messageType": TypeReport, "status": rep.Summary.Status}})
}

func (d *Daemon) enqueue(m message) {
	d.queue = append(d.queue, m)
	for len(d.queue) > d.MaxQueue {
		i := 0
		for i < len(d.queue)-1 && d.queue[i].kind != TypeChange {
			i++
		}
		d.queue = append(d.queue[:i], d.queue[i+1:]...)
		d.dropped++
	}
}

// publish patches reported properties when they changed (or the heartbeat is
// due) and sends queued messages. What fails stays for the next attempt.
func (d *Daemon) publish(ctx context.Context, heartbeat bool) {
	d.mu.Lock()
	rep := d.last
	d.mu.Unlock()
	doc := map[string]any{}
	if d.ack != nil {
		doc["policy"] = d.ack
	}
	if rep != nil {
		sum, err := report.ToMap(report.Compact(rep, report.SummaryBudget))
		if err == nil {
			if heartbeat || d.lastBeat == "" {
				d.lastBeat = d.now().UTC().Format(time.RFC3339)
			}
			sum["heartbeat"] = d.lastBeat
			doc["readiness"] = sum
		}
	} else if old, ok := d.reported["readiness"]; ok {
		doc["readiness"] = old
	}
	docMap, _ := report.ToMap(doc)
	if heartbeat || !sameIgnoringVolatile(d.reported, docMap) {
		patch := report.MergePatch(d.reported, docMap)
		if len(patch) > 0 {
			if err := d.Hub.PatchReported(ctx, patch); err != nil {
				d.Log.Warn().Err(err).Msg("reported properties not updated; will retry")
			} else {
				d.reported = report.ApplyMergePatch(d.reported, patch)
				d.Log.Debug().Int("keys", len(patch)).Msg("reported properties updated")
			}
		}
	}
	for len(d.queue) > 0 {
		m := d.queue[0]
		body, dropped := m.body, 0
		if m.kind == TypeReport {
			r := *m.rep
			if dropped = d.dropped; dropped > 0 {
				r.Notes = append(append([]string(nil), r.Notes...),
					fmt.Sprintf("%d change messages were dropped while edgeHub was unreachable", dropped))
			}
			var err error
			if body, err = report.Fit(&r, report.MessageLimit); err != nil {
				d.Log.Error().Err(err).Msg("report not sent")
				d.queue = d.queue[1:]
				continue
			}
		}
		if err := d.Hub.Send(ctx, d.Output, body, m.props); err != nil {
			d.Log.Warn().Err(err).Int("queued", len(d.queue)).Msg("messages not sent; will retry")
			return
		}
		d.dropped -= dropped
		d.queue = d.queue[1:]
	}
}

// sameIgnoringVolatile compares two reported documents less the fields that
// change every cycle (lastRun, durationMs, heartbeat).
func sameIgnoringVolatile(a, b map[string]any) bool {
	strip := func(m map[string]any) map[string]any {
		out, _ := report.ToMap(m)
		if r, ok := out["readiness"].(map[string]any); ok {
			delete(r, "lastRun")
			delete(r, "durationMs")
			delete(r, "heartbeat")
		}
		return out
	}
	return reflect.DeepEqual(strip(a), strip(b))
}

func (d *Daemon) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
	defer cancel()
	d.publish(ctx, false)
	d.Log.Info().Int("unsent", len(d.queue)).Msg("stopped")
}

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
		m, err := report.ToMap(report.Compact(rep, report.SummaryBudget))
		if err != nil {
			return 500, map[string]any{"error": err.Error()}
		}
		return 200, m
	case <-time.After(methodTimeout):
		return 504, map[string]any{"error": "the cycle did not finish in time"}
	}
}

func (d *Daemon) getReportMethod(map[string]any) (int, map[string]any) {
	d.mu.Lock()
	rep := d.last
	d.mu.Unlock()
	if rep == nil {
		return 404, map[string]any{"error": "no cycle has completed yet"}
	}
	b, err := report.Fit(rep, report.MethodLimit)
	if err != nil {
		return 500, map[string]any{"error": err.Error()}
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return 500, map[string]any{"error": err.Error()}
	}
	return 200, m
}
