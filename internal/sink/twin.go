package sink

import (
	"context"
	"fmt"
	"reflect"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/report"
)

// Patcher is what the Twin sink needs of the IoT Hub connection.
type Patcher interface {
	PatchReported(ctx context.Context, patch map[string]any) error
}

// Twin keeps the module twin's reported properties current: the policy
// acknowledgement under "policy", and under "readiness" the compact summary
// of the latest report with a heartbeat timestamp. It patches only what
// changed (or the heartbeat when it is due), against the reported properties
// as IoT Hub has them.
type Twin struct {
	hub      Patcher
	reported map[string]any // our keys of the reported properties, as IoT Hub has them
	lastBeat string
}

// Reported property keys the Twin sink owns.
const (
	KeyReadiness = "readiness"
	KeyPolicy    = "policy"
)

// NewTwin returns a Twin sink patching through h.
func NewTwin(h Patcher) *Twin { return &Twin{hub: h, reported: map[string]any{}} }

var _ Sink = (*Twin)(nil)

// Name implements Sink.
func (*Twin) Name() string { return "twin" }

// Publish implements Sink.
func (t *Twin) Publish(ctx context.Context, ev Event) error {
	if ev.Reported != nil {
		t.adopt(ev.Reported)
	}
	doc := map[string]any{}
	if ev.Policy != nil {
		doc[KeyPolicy] = ev.Policy
	}
	if ev.Report != nil {
		sum, err := report.ToMap(report.Compact(ev.Report, report.SummaryBudget))
		if err == nil {
			if ev.Heartbeat || t.lastBeat == "" {
				t.lastBeat = ev.Time.UTC().Format(time.RFC3339)
			}
			sum["heartbeat"] = t.lastBeat
			doc[KeyReadiness] = sum
		}
	} else if old, ok := t.reported[KeyReadiness]; ok {
		doc[KeyReadiness] = old
	}
	docMap, err := report.ToMap(doc)
	if err != nil {
		return err
	}
	if !ev.Heartbeat && sameIgnoringVolatile(t.reported, docMap) {
		return nil
	}
	patch := report.MergePatch(t.reported, docMap)
	if len(patch) == 0 {
		return nil
	}
	if err := t.hub.PatchReported(ctx, patch); err != nil {
		return fmt.Errorf("reported properties not updated: %w", err)
	}
	t.reported = report.ApplyMergePatch(t.reported, patch)
	return nil
}

// adopt takes the reported properties as IoT Hub has them, so that the next
// patch is computed against them, and the heartbeat they carry.
func (t *Twin) adopt(reported map[string]any) {
	t.reported = map[string]any{}
	for _, k := range []string{KeyReadiness, KeyPolicy} {
		if v, ok := reported[k]; ok {
			t.reported[k] = v
		}
	}
	r, _ := t.reported[KeyReadiness].(map[string]any)
	if hb, ok := r["heartbeat"].(string); ok {
		t.lastBeat = hb
	}
}

// sameIgnoringVolatile compares two reported documents less the fields that
// change every cycle (lastRun, durationMs, heartbeat).
func sameIgnoringVolatile(a, b map[string]any) bool {
	strip := func(m map[string]any) map[string]any {
		out, _ := report.ToMap(m)
		if r, ok := out[KeyReadiness].(map[string]any); ok {
			delete(r, "lastRun")
			delete(r, "durationMs")
			delete(r, "heartbeat")
		}
		return out
	}
	return reflect.DeepEqual(strip(a), strip(b))
}
