// Package sink is where reports go, and each output's shape lives here with
// its sink: the table and JSON (table.go, json.go), JUnit and SARIF, the
// module twin's reported "readiness" document (readiness.go, one type written
// by the Twin sink and read by the module and the fleet view) with its merge
// patches (mergepatch.go), device-to-cloud messages (d2c.go, trimmed by
// fit.go and folded by fold.go) and the Prometheus metrics (metrics.go). A
// sink is one file implementing Sink; it knows the report model and nothing
// of how checks decide, facts or policies.
//
// Sinks are handed events only through a Publisher, which scrubs every event
// once before any sink sees it: a sink cannot emit a secret it was never given.
package sink

import (
	"context"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/report"
)

// Sink publishes events somewhere.
type Sink interface {
	// Name names the sink in errors and logs.
	Name() string
	// Publish emits what the sink makes of ev. An error leaves what failed
	// for the sink to retry at the next event.
	Publish(ctx context.Context, ev Event) error
}

// Event is what there is to publish: the latest report, and in module mode
// what changed since the last one and what the upstream must be told.
type Event struct {
	// Time is when the event was raised (the heartbeat's timestamp).
	Time time.Time
	// Report is the latest cycle's report; nil before the first cycle.
	Report *report.Report
	// Changes lists the findings whose status changed since the previous
	// report; empty without a baseline, or when no cycle raised the event.
	Changes []report.Change
	// Changed tells that Report differs from the previous one in status,
	// score or a finding's status, or that it is the first.
	Changed bool
	// Heartbeat tells that the heartbeat is due: refresh the twin's state
	// even though nothing changed (reported properties only).
	Heartbeat bool
	// ReportDue tells that the full report message is due: the report
	// changed, or the full-report cadence came round (a day by default).
	ReportDue bool
	// CompressReport sends the report message gzip-compressed.
	CompressReport bool
	// LastPublished is when the sinks last published everything to IoT Hub
	// (zero: not yet), for the metrics.
	LastPublished time.Time
	// Resync tells that the upstream connection came back: what it holds may
	// be stale, so publish the full state.
	Resync bool
	// Reported is the upstream's stored state (the module twin's reported
	// properties) as just read, at start and after a reconnection; nil otherwise.
	Reported map[string]any
	// Policy acknowledges the latest policy received; nil when there is none
	// (the check command, or no desired properties yet).
	Policy *PolicyAck
	// Rules describe the checks of the run, for formats that carry a rule
	// per check (SARIF); a check missing here is described from its findings.
	// They are the catalog's text, never a device's: the publisher does not
	// scrub them.
	Rules []Rule
	// Fixes are the changes to the checked file that repair findings, by
	// finding key (checks.Finding.Key), for outputs that carry suggested
	// fixes (SARIF); nil when nothing was fixed (a device, not a file).
	Fixes map[string]Fix
}

// Fix is a change to the file a finding points into that repairs it.
type Fix struct {
	Description  string
	Replacements []Replacement
}

// Replacement replaces CharLength characters (Unicode code points) at
// CharOffset of the file with Text.
type Replacement struct {
	CharOffset, CharLength int
	Text                   string
}

// Rule is what an output tells of a check besides its findings: how it
// decides and how to fix what it finds.
type Rule struct {
	ID          string
	Title       string
	Section     string
	Severity    string // the default severity: critical, warning or info
	Decides     string
	Remediation string
	Reference   string
}

// Full tells whether ev asks for the full state, not only what changed.
func (ev Event) Full() bool { return ev.Changed || ev.Heartbeat || ev.Resync }

// Policy acknowledgement statuses.
const (
	PolicyApplied  = "applied"
	PolicyRejected = "rejected"
)

// PolicyAck says whether a policy version was applied or rejected, and which
// version is in force. It is written to the twin under "policy".
type PolicyAck struct {
	Version        int64    `json:"version"`
	Status         string   `json:"status"`
	Errors         []string `json:"errors"` // never null: [] when applied
	AppliedVersion int64    `json:"appliedVersion"`
}
