package checks_test

import (
	"strings"
	"testing"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/facts"
)

// TestErrorFindingsSayHowToDecide: an error finding's fix is what would let
// its check decide (the fact it could not read), never the check's remedy
// for a failure: the engine's socket, the containers' permission, the
// metrics endpoint, the certificates' endpoint, the probes' network.
func TestErrorFindingsSayHowToDecide(t *testing.T) {
	remedy := map[string]string{}
	for _, c := range checks.All() {
		remedy[c.ID] = c.Remediation
	}
	all := []facts.Fact{checks.NeedEngine, checks.NeedEngineInventory, checks.NeedContainers, checks.NeedEdgeHubStats,
		checks.NeedEdgeAgentStats, checks.NeedCerts, checks.NeedProbes}
	for _, tc := range []struct {
		fact facts.Fact
		fix  string // a substring of the fix every error finding must carry
	}{
		{checks.NeedEngine, `"/var/run/docker.sock:/var/run/docker.sock:ro"`},
		{checks.NeedEngineInventory, "turn on INFO, IMAGES, VOLUMES and SYSTEM"},
		{checks.NeedContainers, "turn on CONTAINERS"},
		{checks.NeedEdgeHubStats, "--edgehub-metrics URL"},
		{checks.NeedEdgeAgentStats, "--edgeagent-metrics URL"},
		{checks.NeedCerts, "the workload API's trust bundle"},
		{checks.NeedProbes, "--no-probes"},
	} {
		t.Run(string(tc.fact), func(t *testing.T) {
			s := goodDevice(t)
			states := map[facts.Fact]facts.FactState{}
			for _, f := range all {
				states[f] = facts.FactState{Status: facts.StatusOK}
			}
			states[tc.fact] = facts.FactState{Status: facts.StatusError, Reason: "permission denied"}
			s.Sources = []facts.SourceRun{{Name: "test", Status: facts.StatusOK, Facts: states}}
			errs := 0
			for _, f := range runAll(s, decodePolicy(t, "")) {
				if f.Status != checks.Error {
					continue
				}
				errs++
				if !strings.Contains(f.Remediation, tc.fix) {
					t.Errorf("%s %s: fix %q, want one holding %q", f.ID, f.Module, f.Remediation, tc.fix)
				}
				if f.Remediation == remedy[f.ID] {
					t.Errorf("%s: an error finding carries the check's remedy for a failure", f.ID)
				}
			}
			if errs == 0 {
				t.Fatalf("no check is undecided without %s", tc.fact)
			}
		})
	}
}

// TestUndecidedInEval: a check that decides it cannot decide (the Edge CA
// not read: edgeHub's endpoint refused the connection) gets its fact's fix,
// not "issue the Edge CA from your PKI"; a check that panics says it is a bug.
func TestUndecidedInEval(t *testing.T) {
	s := goodDevice(t)
	s.Certs = &facts.Certs{EdgeHubError: "dial tcp 172.18.0.3:8883: connect: connection refused"}
	found := false
	for _, f := range byID(runAll(s, decodePolicy(t, "")), "production-certificates") {
		if f.Status != checks.Error {
			t.Fatalf("production-certificates %s without the Edge CA: %s", f.Status, f.Message)
		}
		found = true
		if !strings.Contains(f.Remediation, "reach edgeHub's TLS endpoint") || strings.Contains(f.Remediation, "PKI") {
			t.Errorf("fix %q, want the certificates' endpoint, not the PKI remedy", f.Remediation)
		}
	}
	if !found {
		t.Fatal("no production-certificates finding")
	}
	boom := &checks.Check{Meta: checks.Meta{ID: "boom", Title: "panics", Remediation: "the remedy for a failure"},
		Eval: func(*checks.Input) []checks.Result { panic("index out of range") }}
	fs := checks.Run([]*checks.Check{boom}, checks.Input{Snap: s}, decodePolicy(t, ""))
	if len(fs) != 1 || fs[0].Status != checks.Error || !strings.Contains(fs[0].Remediation, "a bug of edge-readiness") {
		t.Errorf("a panicking check: %+v", fs)
	}
}
