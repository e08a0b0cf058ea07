package daemon

import (
	"context"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/sink"
)

// event is the current state to publish: the latest report, the policy
// acknowledgement, and the twin's reported properties and the resync when a
// (re)connection just brought them. The cycle adds what changed.
func (d *Daemon) event(now time.Time) sink.Event {
	ev := sink.Event{Time: now, Report: d.latest(), Policy: d.ack, Reported: d.reported, Resync: d.resyncing,
		LastPublished: d.lastPublished}
	d.reported, d.resyncing = nil, false
	return ev
}

// publish publishes the current state without a new cycle: after a policy
// acknowledgement or a reconnection.
func (d *Daemon) publish(ctx context.Context) {
	d.send(ctx, d.event(d.now()))
}

// resync makes the next event resend the full state after a reconnection,
// so that IoT Hub has the current state whatever was lost while edgeHub was
// away. That resend counts as the heartbeat.
func (d *Daemon) resync() {
	d.resyncing = true
	if d.latest() != nil {
		d.lastFull = d.now()
	}
}

// send hands ev to the sinks through the publisher, which scrubs it. What a
// sink could not publish it keeps for the next event.
func (d *Daemon) send(ctx context.Context, ev sink.Event) {
	err := d.pub.Publish(ctx, ev)
	d.failed = err != nil
	if err == nil {
		d.lastPublished = d.now()
	}
	if err != nil {
		d.Log.Warn().Err(err).Msg("not everything was published; will retry")
	}
}

// shutdown flushes the final state, within flushTimeout.
func (d *Daemon) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
	defer cancel()
	err := d.pub.Publish(ctx, d.event(d.now()))
	d.Log.Info().AnErr("unsent", err).Msg("stopped")
}
