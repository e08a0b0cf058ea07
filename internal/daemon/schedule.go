package daemon

import (
	"context"
	"fmt"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/report"
	"github.com/edge-readiness/edge-readiness/internal/sink"
)

// Run runs until ctx ends, then flushes the final state. It returns an
// error when module mode stalls: no cycle completed for three intervals (or
// 15 minutes, whichever is longer). The caller then exits non-zero, so that
// edgeAgent restarts the module instead of leaving it silent.
func (d *Daemon) Run(ctx context.Context) error {
	d.setup()
	loopCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- d.loop(loopCtx) }()
	every := d.WatchdogEvery
	if every <= 0 {
		every = time.Minute
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return err
		case <-tick.C:
			if err := d.stalled(); err != nil {
				d.Log.Error().Err(err).Msg("module mode stalled; exiting so that edgeAgent restarts the module")
				return err
			}
		}
	}
}

// MinStall is the shortest time without a completed cycle that counts as a stall.
const MinStall = 15 * time.Minute

// stalled says why module mode counts as stalled, or nil.
func (d *Daemon) stalled() error {
	d.mu.Lock()
	last, doing, interval := d.progress, d.doing, d.interval
	d.mu.Unlock()
	limit := max(3*interval, MinStall)
	if idle := d.now().Sub(last); idle > limit {
		return fmt.Errorf("no cycle completed for %s (limit %s: three intervals or %s); last seen %s",
			idle.Round(time.Second), limit, MinStall, doing)
	}
	return nil
}

// phase records what the loop is doing, for the stall message.
func (d *Daemon) phase(doing string) {
	d.mu.Lock()
	d.doing = doing
	d.mu.Unlock()
}

func (d *Daemon) loop(ctx context.Context) error {
	d.phase("reading the module twin")
	desired, reported, err := d.readTwin(ctx)
	if err != nil {
		return err
	}
	d.adoptReported(reported, true)
	d.applyDesired(desired)
	d.registerMethods(ctx)

	timer := time.NewTimer(0)
	defer timer.Stop()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	backoff := time.Duration(0)
	for {
		// A publication that failed is retried with backoff, not an interval later.
		switch {
		case d.failed && backoff == 0:
			backoff = time.Second
			resetTimer(retry, backoff)
		case !d.failed:
			backoff = 0
		}
		if d.cycled && d.Idle != nil {
			d.Idle()
		}
		d.cycled = false
		d.phase("waiting for the next cycle")
		select {
		case <-ctx.Done():
			d.shutdown()
			return nil
		case <-retry.C:
			d.phase("retrying a publication")
			if d.needTwin {
				d.twinTrigger(ctx, d.needAdopt, timer)
			} else {
				d.publish(ctx)
			}
			if d.failed {
				backoff = min(2*backoff, time.Minute)
				resetTimer(retry, backoff)
			}
		case <-timer.C:
			d.cycle(ctx)
			timer.Reset(d.pol.Policy.Interval)
		case reply := <-d.runNow:
			reply <- d.cycle(ctx)
			resetTimer(timer, d.pol.Policy.Interval)
		case <-d.Hub.DesiredChanged():
			d.twinTrigger(ctx, false, timer)
		case <-d.Hub.Reconnected():
			d.twinTrigger(ctx, true, timer)
		}
	}
}

// twinTrigger reads the twin after a desired-properties change or a
// reconnection, once and within the call timeout: a read that fails is
// retried with the publications, so the loop never waits on edgeHub. After
// a reconnection the twin's reported properties become the base of the next
// patch, so that only what IoT Hub lacks is published again.
func (d *Daemon) twinTrigger(ctx context.Context, reconnected bool, timer *time.Timer) {
	d.phase("reading the module twin")
	desired, reported, err := d.Hub.Twin(ctx)
	if err != nil {
		d.Log.Warn().Err(err).Bool("afterReconnection", reconnected).Msg("cannot read the module twin; will retry")
		d.needTwin = true
		d.needAdopt = d.needAdopt || reconnected
		d.failed = true
		return
	}
	d.needTwin = false
	if reconnected || d.needAdopt {
		d.needAdopt = false
		d.adoptReported(reported, false)
		d.resync()
	}
	if d.applyDesired(desired) {
		d.cycle(ctx)
		resetTimer(timer, d.pol.Policy.Interval)
	} else {
		d.publish(ctx)
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
	d.phase("running a cycle")
	rep := d.Cycle.Run(ctx, d.pol)
	d.cycled = true
	if ctx.Err() != nil {
		return nil // cut short by shutdown: its findings are not facts
	}
	d.mu.Lock()
	d.progress, d.interval = d.now(), d.pol.Policy.Interval
	d.mu.Unlock()
	d.phase("publishing a cycle's report")
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
	ev.ReportDue = ev.Changed || now.Sub(d.lastReport) >= d.pol.Policy.FullReport
	if ev.ReportDue {
		d.lastReport = now
	}
	ev.CompressReport = d.pol.Policy.Compress
	d.Log.Info().Str("status", rep.Summary.Status).Int("score", rep.Summary.Score).Int("critical", rep.Summary.Counts.Critical).
		Int("warning", rep.Summary.Counts.Warning).Int("changes", len(changes)).Int64("durationMs", rep.DurationMs).Msg("cycle done")
	d.send(ctx, ev)
	return rep
}
