package checks_test

import (
	"strings"
	"testing"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/facts"
)

// TestRunFactsNotInSnapshot: a source that records the engine's inventory
// and the metrics as not applicable (a support bundle holds neither) makes
// the checks that read them skip with its reason, once, even for a module
// whose inspect failed; the checks that need only the containers still
// decide, and still report the failed inspect.
func TestRunFactsNotInSnapshot(t *testing.T) {
	s := goodDevice(t)
	const why = "not in a support bundle: the engine's images, volumes and settings"
	const noMetrics = "not in a support bundle: the runtime's metrics"
	na := func(r string) facts.FactState { return facts.FactState{Status: facts.StatusNotApplicable, Reason: r} }
	s.Sources = []facts.SourceRun{{Name: "support-bundle", Status: facts.StatusOK, Facts: map[facts.Fact]facts.FactState{
		facts.FactEngine: {Status: facts.StatusOK}, facts.FactContainers: {Status: facts.StatusOK},
		facts.FactEngineInventory: na(why), facts.FactEdgeHubMetrics: na(noMetrics), facts.FactEdgeAgentMetrics: na(noMetrics),
		facts.FactCerts: na("no certs"), facts.FactProbes: na("no probes")}}}
	s.Metrics = nil // a support bundle has none
	victim := ""
	for i := range s.Containers {
		if c := &s.Containers[i]; c.IsModule() && !c.IsSystemModule() {
			victim = c.Name
			*c = facts.Container{Name: c.Name, Labels: c.Labels, InspectError: "docker inspect failed"}
			break
		}
	}
	fs := runAll(s, decodePolicy(t, ""))
	for _, id := range []string{"unused-volumes", "image-garbage-collection", "proxy-settings-consistent"} {
		if f := only(t, byID(fs, id)); f.Status != checks.Skip || f.Message != why {
			t.Errorf("%s: %s %q, want one skip %q", id, f.Status, f.Message, why)
		}
	}
	for _, f := range byID(fs, "metrics-endpoints") {
		if f.Status != checks.Skip || f.Message != noMetrics {
			t.Errorf("metrics-endpoints/%s: %s %q, want skip %q", f.Module, f.Status, f.Message, noMetrics)
		}
	}
	var mine []checks.Finding
	for _, f := range byID(fs, "module-resource-limits") {
		if f.Module == victim {
			mine = append(mine, f)
		}
	}
	if len(mine) != 1 || mine[0].Status != checks.Error || !strings.Contains(mine[0].Message, "docker inspect failed") {
		t.Errorf("module-resource-limits for %s: %+v, want one error naming the failed inspect", victim, mine)
	}
}
