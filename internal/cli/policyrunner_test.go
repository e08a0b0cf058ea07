package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/cycle"
	"github.com/edge-readiness/edge-readiness/internal/policy"
	"github.com/edge-readiness/edge-readiness/internal/redact"
)

// TestPolicyRunnerKeepsHistory: a policy that changes the metrics endpoints
// replaces the gatherer, not the runner, so the history that counter and
// growth checks read survives (a new runner would start from a first cycle).
func TestPolicyRunnerKeepsHistory(t *testing.T) {
	specs := checks.Specs(checks.All())
	decode := func(doc string) cycle.PolicyRef {
		p, err := policy.Decode([]byte(doc), specs)
		if err != nil {
			t.Fatal(err)
		}
		return cycle.PolicyRef{Policy: p, Source: "twin"}
	}
	c := &common{dockerHost: "unix:///nonexistent/docker.sock", timeout: 10 * time.Second, noProbes: true,
		environ: func() []string { return nil }}
	p := &policyRunner{c: c, scrub: redact.NewScrubber(), self: "readiness"}
	defer p.Close()

	p.Run(context.Background(), decode(`{"metrics":{"edgeHub":"http://127.0.0.1:1/metrics","edgeAgent":"http://127.0.0.1:1/metrics"}}`))
	runner, gatherer := p.runner, p.runner.Gatherer
	rep := p.Run(context.Background(), decode(`{"metrics":{"edgeHub":"http://127.0.0.1:2/metrics","edgeAgent":"http://127.0.0.1:2/metrics"}}`))
	if p.runner != runner {
		t.Errorf("the runner (and its history) was replaced when the metrics endpoints changed")
	}
	if p.runner.Gatherer == gatherer {
		t.Errorf("the gatherer was not replaced for the new endpoints")
	}
	for _, f := range rep.Findings {
		if f.ID == "metrics-endpoints" && !strings.Contains(f.Message, "http://127.0.0.1:2/metrics") {
			t.Errorf("metrics-endpoints did not read the new endpoint: %s %s", f.Status, f.Message)
		}
	}
}
