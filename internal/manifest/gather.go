package manifest

import (
	"context"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/facts"
)

// SourceName is the source a manifest's snapshot records.
const SourceName = "manifest"

// NeedsDevice is why the facts only a device has do not apply to a manifest.
const NeedsDevice = "needs a device: decided on the device, not from a deployment manifest"

// Gatherer is a whole gatherer that replaces the device with a deployment
// manifest: the containers edgeAgent would create and the manifest's own
// content; the engine, metrics, certificates and probes do not apply.
type Gatherer struct {
	Manifest *Manifest
	// Now stamps the snapshot; nil means time.Now.
	Now func() time.Time
}

// Open reads the manifest at path.
func Open(path string, opts Options) (*Gatherer, error) {
	m, err := Load(path, opts)
	if err != nil {
		return nil, err
	}
	return &Gatherer{Manifest: m}, nil
}

// Gather builds a snapshot of the manifest; it reads nothing.
func (g *Gatherer) Gather(context.Context) *facts.Snapshot {
	now := time.Now
	if g.Now != nil {
		now = g.Now
	}
	return Snapshot(g.Manifest, now())
}

// Snapshot is the manifest's facts at t.
func Snapshot(m *Manifest, t time.Time) *facts.Snapshot {
	start := time.Now()
	s := &facts.Snapshot{SchemaVersion: facts.SnapshotSchemaVersion, Time: t, Deployment: m.Deployment()}
	s.Containers = make([]facts.Container, 0, len(m.Modules))
	for _, mod := range m.Modules {
		s.Containers = append(s.Containers, mod.Container())
	}
	na := facts.FactState{Status: facts.StatusNotApplicable, Reason: NeedsDevice}
	s.Sources = []facts.SourceRun{{
		Name: SourceName, Status: facts.StatusOK, DurationMs: time.Since(start).Milliseconds(),
		Facts: map[facts.Fact]facts.FactState{
			facts.FactContainers:       {Status: facts.StatusOK},
			facts.FactManifest:         {Status: facts.StatusOK},
			facts.FactEngine:           na,
			facts.FactEdgeHubMetrics:   na,
			facts.FactEdgeAgentMetrics: na,
			facts.FactCerts:            na,
			facts.FactProbes:           na,
		},
	}}
	return s
}
