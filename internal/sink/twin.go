package sink

import (
	"context"
	"fmt"
	"reflect"
	"time"
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
	lastBeat time.Time
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

// twinDoc is the part of the reported properties the Twin sink owns.
type twinDoc struct {
	Policy    *PolicyAck `json:"policy,omitempty"`
	Readiness any        `json:"readiness,omitempty"` // *Readiness, or the summary IoT Hub already has
}

// Publish implements Sink.
func (t *Twin) Publish(ctx context.Context, ev Event) error {
	if ev.Reported != nil {
		t.adopt(ev.Reported)
	}
	doc := twinDoc{Policy: ev.Policy}
	if ev.Report != nil {
		sum := Compact(ev.Report, SummaryBudget)
		if ev.Heartbeat || t.lastBeat.IsZero() {
			t.lastBeat = ev.Time.UTC().Truncate(time.Second)
		}
		sum.Heartbeat = t.lastBeat
		doc.Readiness = &sum
	} else if old, ok := t.reported[KeyReadiness]; ok {
		doc.Readiness = old
	}
	docMap, err := ToMap(doc) // the generic form IoT Hub stores, to diff against
	if err != nil {
		return err
	}
	if !ev.Heartbeat && sameIgnoringVolatile(t.reported, docMap) {
		return nil
	}
	patch := MergePatch(t.reported, docMap)
	if len(patch) == 0 {
		return nil
	}
	if err := t.hub.PatchReported(ctx, patch); err != nil {
		return fmt.Errorf("reported properties not updated: %w", err)
	}
	t.reported = ApplyMergePatch(t.reported, patch)
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
	if r := ReadReadiness(t.reported[KeyReadiness]); r != nil && !r.Heartbeat.IsZero() {
		t.lastBeat = r.Heartbeat
	}
}

// volatile are the readiness fields that change every cycle.
var volatile = []string{"lastRun", "durationMs", "heartbeat"}

// sameIgnoringVolatile compares two reported documents (generic form) less
// the fields that change every cycle.
func sameIgnoringVolatile(a, b map[string]any) bool {
	strip := func(m map[string]any) map[string]any {
		out := make(map[string]any, len(m))
		for k, v := range m {
			out[k] = v
		}
		if r, ok := m[KeyReadiness].(map[string]any); ok {
			rc := make(map[string]any, len(r))
			for k, v := range r {
				rc[k] = v
			}
			for _, k := range volatile {
				delete(rc, k)
			}
			out[KeyReadiness] = rc
		}
		return out
	}
	return reflect.DeepEqual(strip(a), strip(b))
}
