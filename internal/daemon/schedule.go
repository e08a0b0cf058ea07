package daemon

import (
	"context"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/report"
	"github.com/edge-readiness/edge-readiness/internal/sink"
)

// Run runs until ctx ends, then flushes the final state.
func (d *Daemon) Run(ctx context.Context) error {
	d.setup()
	desired, reported, err := d.readTwin(ctx)
	if err != nil {
		return err
	}
	d.adoptReported(reported, true)
	d.applyDesired(desired)
	d.registerMethods(ctx)

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
				d.publish(ctx)
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
				d.publish(ctx)
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

// cycle runs the checks and publishes the report with what changed.
func (d *Daemon) cycle(ctx context.Context) *report.Report {
	rep := d.Cycle.Run(ctx, d.pol)
	if ctx.Err() != nil {
		return nil // cut short by shutdown: its findings are not facts
	}
	// From here on only the scrubbed report exists: baselines, change
	// messages, sinks and method replies all see what IoT Hub will see.
	rep = sink.Scrub(d.scrub, rep)
	now := d.now()
	changes := report.Changes(d.previousStatuses(rep), rep)
	d.baseline = report.Statuses(rep)
	d.prior = nil

	d.mu.Lock()
	prev := d.last
	d.last = rep
	d.mu.Unlock()

	ev := d.event(now)
	ev.Changes = changes
	ev.Changed = prev == nil || len(changes) > 0 || prev.Summary.Status != rep.Summary.Status ||
		prev.Summary.Score != rep.Summary.Score
	ev.Heartbeat = now.Sub(d.lastFull) >= d.pol.Policy.Heartbeat
	if ev.Changed || ev.Heartbeat {
		d.lastFull = now
	}
	d.Log.Info().Str("status", rep.Summary.Status).Int("score", rep.Summary.Score).Int("critical", rep.Summary.Counts.Critical).
		Int("warning", rep.Summary.Counts.Warning).Int("changes", len(changes)).Int64("durationMs", rep.DurationMs).Msg("cycle done")
	d.send(ctx, ev)
	return rep
}
