// Package daemon is module mode: it takes the policy from the module twin,
// runs cycles, and pushes state upstream like node-problem-detector's
// condition manager, through a list of sinks: the twin summary when it
// changes (plus a heartbeat), the full report on change and at the
// heartbeat, a message per changed finding, a resync after every reconnection.
//
// One file per part: schedule.go runs the loop and its triggers, policy.go
// applies and acknowledges the desired properties and recovers the previous
// run's baseline, publish.go hands events to the sinks, methods.go serves
// the direct methods.
package daemon

import (
	"context"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/edge-readiness/edge-readiness/internal/cycle"
	"github.com/edge-readiness/edge-readiness/internal/hub"
	"github.com/edge-readiness/edge-readiness/internal/policy"
	"github.com/edge-readiness/edge-readiness/internal/redact"
	"github.com/edge-readiness/edge-readiness/internal/report"
	"github.com/edge-readiness/edge-readiness/internal/sink"
)

// Hub is what the daemon needs of the IoT Hub connection; the sinks that
// write to IoT Hub hold it too, for what they need of it.
type Hub interface {
	Twin(ctx context.Context) (desired, reported map[string]any, err error)
	RegisterMethod(ctx context.Context, name string, h hub.MethodHandler) error
	Reconnected() <-chan struct{}
	DesiredChanged() <-chan struct{}
}

var _ Hub = (*hub.Client)(nil)

// Cycler runs one cycle.
type Cycler interface {
	Run(ctx context.Context, pol cycle.PolicyRef) *report.Report
}

const (
	flushTimeout  = 5 * time.Second
	methodTimeout = 90 * time.Second
)

// Daemon runs module mode.
type Daemon struct {
	Hub   Hub
	Cycle Cycler
	Specs []policy.CheckSpec
	// Sinks receive every event, in order: in module mode the twin, then
	// device-to-cloud messages.
	Sinks []sink.Sink
	// Scrubber masks secrets in every report as soon as a cycle returns it,
	// in every event before a sink sees it, and in every method reply. Nil
	// masks what its patterns catch.
	Scrubber *redact.Scrubber
	Log      zerolog.Logger
	Now      func() time.Time
	// WatchdogEvery is how often Run looks for a stall (default a minute).
	WatchdogEvery time.Duration
	// OnPolicy, when set, is told of every policy put in force, the
	// default one first (the metrics endpoint follows it).
	OnPolicy func(*policy.Policy)
	// Idle, when set, is called each time the loop goes back to waiting
	// after a cycle, its report published and its method reply handed over.
	// Module mode gives the cycle's freed heap back to the OS there: what a
	// cycle allocated is garbage for the minutes until the next one.
	Idle func()

	scrub *redact.Scrubber

	// policy.go
	pol      cycle.PolicyRef
	ack      *sink.PolicyAck
	baseline map[string]string // finding statuses of the last cycle; nil: none yet
	prior    *priorState       // what the twin said before this process's first cycle

	// publish.go
	pub           *sink.Publisher
	reported      map[string]any // reported properties read from the twin, for the next event
	resyncing     bool           // the next event resyncs after a reconnection
	lastFull      time.Time      // when the full state was last published to the twin (heartbeat)
	lastReport    time.Time      // when the full report message was last sent
	lastPublished time.Time      // when every sink last published successfully

	// schedule.go
	runNow chan chan *report.Report

	failed    bool // the last publication (or twin read) left something undone: retry with backoff
	needTwin  bool // a twin read after a trigger failed
	needAdopt bool // ... after a reconnection: adopt its reported properties
	cycled    bool // a cycle ran since the loop last waited: Idle is due

	mu       sync.Mutex
	last     *report.Report // scrubbed
	progress time.Time      // when the last cycle completed (or module mode started)
	interval time.Duration  // the policy's interval then
	doing    string         // what the loop is doing, for the stall message
}

// setup readies the daemon's parts before the first twin read.
func (d *Daemon) setup() {
	d.scrub = d.Scrubber
	if d.scrub == nil {
		d.scrub = redact.NewScrubber()
	}
	d.pub = sink.NewPublisher(d.scrub, d.Sinks...)
	d.runNow = make(chan chan *report.Report)
	d.pol = cycle.PolicyRef{Policy: policy.Default(d.Specs), Source: "default"}
	d.progress, d.interval = d.now(), d.pol.Policy.Interval
	if d.OnPolicy != nil {
		d.OnPolicy(d.pol.Policy)
	}
}

func (d *Daemon) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

func (d *Daemon) latest() *report.Report {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.last
}
