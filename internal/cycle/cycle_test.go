package cycle_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/cycle"
	"github.com/edge-readiness/edge-readiness/internal/facts"
	"github.com/edge-readiness/edge-readiness/internal/policy"
)

// growingQueue is a gatherer whose edgeHub queue grows by one message each cycle.
type growingQueue struct {
	n   int
	now time.Time
}

func (g *growingQueue) Gather(context.Context) *facts.Snapshot {
	g.n++
	g.now = g.now.Add(5 * time.Minute)
	sc := &facts.Scrape{Endpoint: "http://edgeHub:9600/metrics", Time: g.now, Samples: []facts.Sample{
		{Name: "edgehub_queue_length", Labels: map[string]string{"endpoint": "iothub"}, Value: float64(g.n)}}}
	return &facts.Snapshot{Time: g.now, Metrics: map[string]*facts.Scrape{facts.EdgeHub: sc}}
}

// TestQueueGrowthAtTheLargestAllowedValue: every allowed growthCycles is
// decided, because the runner keeps as many earlier snapshots as the check
// declares. (With a fixed history of 4, a value of 5 or more never failed.)
func TestQueueGrowthAtTheLargestAllowedValue(t *testing.T) {
	all := []*checks.Check{}
	for _, c := range checks.All() {
		if c.ID == "edgehub-queue-backlog" {
			all = append(all, c)
		}
	}
	specs := checks.Specs(checks.All())
	for _, cycles := range []int{1, 3, checks.MaxGrowthCycles} {
		t.Run(fmt.Sprint(cycles), func(t *testing.T) {
			pol, err := policy.Decode([]byte(fmt.Sprintf(`{"checks":{"edgehub-queue-backlog":{"params":{"growthCycles":%d}}}}`, cycles)), specs)
			if err != nil {
				t.Fatal(err)
			}
			r := &cycle.Runner{Gatherer: &growingQueue{now: time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)}, Checks: all}
			for i := 1; i <= cycles+1; i++ {
				rep := r.Run(context.Background(), cycle.PolicyRef{Policy: pol, Source: "test"})
				f := rep.Findings[0]
				want := checks.Pass
				if i == cycles+1 { // grown in each of the last `cycles` cycles
					want = checks.Fail
				}
				if f.Status != want {
					t.Fatalf("cycle %d: %s (%s), want %s", i, f.Status, f.Message, want)
				}
			}
		})
	}
	if checks.HistoryNeeded(checks.All()) < checks.MaxGrowthCycles {
		t.Errorf("the runner keeps %d snapshots, fewer than growthCycles allows", checks.HistoryNeeded(checks.All()))
	}
}
