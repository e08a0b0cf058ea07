// Package cycle runs one readiness cycle: gather facts, run checks under a
// policy, build the report, and keep it free of secrets.
package cycle

import (
	"context"
	"slices"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/facts"
	"github.com/edge-readiness/edge-readiness/internal/policy"
	"github.com/edge-readiness/edge-readiness/internal/redact"
	"github.com/edge-readiness/edge-readiness/internal/report"
)

// Gatherer is the part of facts.Gatherer a cycle uses.
type Gatherer interface {
	Gather(ctx context.Context) *facts.Snapshot
}

var _ Gatherer = (*facts.Gatherer)(nil)

// Runner runs cycles. The previous snapshot is kept for checks that compare cycles.
type Runner struct {
	Gatherer Gatherer
	Checks   []*checks.Check
	Scrubber *redact.Scrubber
	Self     string
	Now      func() time.Time
	history  []*facts.Snapshot // oldest first
}

// PolicyRef is a policy with where it came from.
type PolicyRef struct {
	Policy  *policy.Policy
	Source  string // default, file, twin
	Version int64
	// Rules are the policy's user rules, compiled (package rules); they run
	// after the catalog's checks.
	Rules []*checks.Check
}

// Checks are the checks a cycle under the policy runs: the catalog's, then its rules.
func (p PolicyRef) Checks(catalog []*checks.Check) []*checks.Check {
	if len(p.Rules) == 0 {
		return catalog
	}
	return append(slices.Clip(catalog), p.Rules...)
}

// Run gathers facts, runs the checks and returns the report.
func (r *Runner) Run(ctx context.Context, pol PolicyRef) *report.Report {
	now := r.Now
	if now == nil {
		now = time.Now
	}
	started := now()
	snap := r.Gatherer.Gather(ctx)
	if r.Scrubber != nil {
		rp := redact.NewPolicy(pol.Policy.AllowEnv)
		for i := range snap.Containers {
			r.Scrubber.AddEnv(rp, snap.Containers[i].Env)
		}
	}
	var prev *facts.Snapshot
	if n := len(r.history); n > 0 {
		prev = r.history[n-1]
	}
	findings := checks.Run(pol.Checks(r.Checks), checks.Input{Snap: snap, Prev: prev, History: r.history, Self: r.Self}, pol.Policy)
	// Keep as many earlier snapshots as the most demanding check declares.
	r.history = append(r.history, lean(snap))
	if keep := checks.HistoryNeeded(r.Checks); len(r.history) > keep {
		r.history = append(r.history[:0], r.history[len(r.history)-keep:]...)
	}
	dev := DeviceFromEnv(snap.Env)
	if snap.Deployment != nil {
		dev.RuntimeMode, dev.Manifest = "manifest", snap.Deployment.Path
	}
	return report.Build(report.Input{
		Snap: snap, Policy: pol.Policy, Source: pol.Source, Version: pol.Version,
		Started: started, Finished: now(), Device: dev,
	}, findings)
}

// DeviceFromEnv reads the device identity from the IoT Edge environment.
func DeviceFromEnv(env map[string]string) report.Device {
	d := report.Device{
		DeviceID: env["IOTEDGE_DEVICEID"], ModuleID: env["IOTEDGE_MODULEID"], IoTHub: env["IOTEDGE_IOTHUBHOSTNAME"],
		Gateway: env["IOTEDGE_GATEWAYHOSTNAME"], RuntimeMode: "host",
	}
	if d.ModuleID != "" {
		d.RuntimeMode = "module"
	}
	return d
}

// lean keeps what trend checks need of a snapshot: time, container states and
// metrics. Environment values are dropped so that history holds no secrets.
func lean(s *facts.Snapshot) *facts.Snapshot {
	l := &facts.Snapshot{Time: s.Time, Metrics: s.Metrics, Containers: make([]facts.Container, len(s.Containers))}
	for i, c := range s.Containers {
		l.Containers[i] = facts.Container{ID: c.ID, Name: c.Name, Labels: c.Labels, State: c.State}
	}
	return l
}
