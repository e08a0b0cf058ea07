package daemon

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/cycle"
	"github.com/edge-readiness/edge-readiness/internal/hub"
	"github.com/edge-readiness/edge-readiness/internal/report"
	"github.com/edge-readiness/edge-readiness/internal/sink"
)

// lockedHub is a hub for tests that run the daemon's loop on its own
// goroutine: every field is behind the mutex.
type lockedHub struct {
	mu         sync.Mutex
	offline    bool
	twinFails  int // the next twin reads that fail
	twinReads  int
	patches    int
	reports    int
	changes    int
	reconnectC chan struct{}
	desiredC   chan struct{}
}

func newLockedHub() *lockedHub {
	return &lockedHub{reconnectC: make(chan struct{}, 1), desiredC: make(chan struct{}, 1)}
}

func (h *lockedHub) Twin(context.Context) (map[string]any, map[string]any, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.twinReads++
	if h.twinFails > 0 {
		h.twinFails--
		return nil, nil, errOffline
	}
	return map[string]any{"$version": float64(1)}, map[string]any{"$version": float64(1)}, nil
}

func (h *lockedHub) PatchReported(context.Context, map[string]any) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.offline {
		return errOffline
	}
	h.patches++
	return nil
}

func (h *lockedHub) Send(_ context.Context, _ string, _ []byte, props map[string]string, _ string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.offline {
		return errOffline
	}
	if props["messageType"] == sink.TypeReport {
		h.reports++
	} else {
		h.changes++
	}
	return nil
}

func (h *lockedHub) RegisterMethod(context.Context, string, hub.MethodHandler) error { return nil }
func (h *lockedHub) Reconnected() <-chan struct{}                                    { return h.reconnectC }
func (h *lockedHub) DesiredChanged() <-chan struct{}                                 { return h.desiredC }

func (h *lockedHub) get(f func(*lockedHub) int) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return f(h)
}

// stuckCycle never finishes a cycle until its context ends: an engine call
// or a hub call that hangs.
type stuckCycle struct{ started chan struct{} }

func (c *stuckCycle) Run(ctx context.Context, _ cycle.PolicyRef) *report.Report {
	select {
	case c.started <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return nil
}

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestStallExits: when no cycle completes for three intervals (at least 15
// minutes), Run returns an error saying what the loop was doing, so that
// the process exits non-zero and edgeAgent restarts it.
func TestStallExits(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)}
	cyc := &stuckCycle{started: make(chan struct{}, 1)}
	d := &Daemon{Hub: newLockedHub(), Cycle: cyc, Specs: specs, Log: zerolog.Nop(), Now: clock.now, WatchdogEvery: 5 * time.Millisecond}
	d.Sinks = []sink.Sink{sink.NewTwin(d.Hub.(*lockedHub)), sink.NewD2C(d.Hub.(*lockedHub), "", 0)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	<-cyc.started

	clock.add(14 * time.Minute) // three 5-minute intervals, but not yet 15 minutes
	select {
	case err := <-done:
		t.Fatalf("Run returned %v before the stall limit", err)
	case <-time.After(100 * time.Millisecond):
	}
	clock.add(2 * time.Minute)
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "no cycle completed for 16m0s") || !strings.Contains(err.Error(), "running a cycle") {
			t.Errorf("Run = %v, want a stall naming the cycle", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not give up on a stalled cycle")
	}
}

// TestFailedPublicationIsRetried: a report that could not be sent goes out
// as soon as edgeHub is back, with backoff, not an interval later; and a
// twin read that fails after a reconnection is retried the same way, never
// holding up the loop.
func TestFailedPublicationIsRetried(t *testing.T) {
	h := newLockedHub()
	h.offline = true
	cyc := &fakeCycle{now: time.Now, findings: []checks.Finding{finding("disk-space", "", checks.Pass)}, ran: make(chan struct{}, 1)}
	d := &Daemon{Hub: h, Cycle: cyc, Specs: specs, Log: zerolog.Nop(), Sinks: []sink.Sink{sink.NewTwin(h), sink.NewD2C(h, "", 0)}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	}()
	<-cyc.ran // the first cycle: its report and patch fail
	h.mu.Lock()
	h.offline = false
	h.mu.Unlock()
	eventually(t, "the retried report and patch", func() bool {
		return h.get(func(h *lockedHub) int { return h.reports }) == 1 && h.get(func(h *lockedHub) int { return h.patches }) >= 1
	})
	if n := len(cyc.ranPolicies()); n != 1 {
		t.Errorf("%d cycles ran; the retry must not wait for (or run) another", n)
	}

	// A reconnection whose twin read fails: retried until it succeeds.
	h.mu.Lock()
	h.twinFails = 2
	reads := h.twinReads
	h.mu.Unlock()
	h.reconnectC <- struct{}{}
	eventually(t, "the twin read retried after the reconnection", func() bool {
		return h.get(func(h *lockedHub) int { return h.twinReads }) >= reads+3
	})
}
