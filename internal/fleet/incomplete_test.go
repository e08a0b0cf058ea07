package fleet

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/sink"
)

// TestAggregateIncomplete: a device whose checks could not all be decided
// (status incomplete) is counted as such, not as unknown, in the view, its
// table and its JSON; a fleet without one shows no incomplete row.
func TestAggregateIncomplete(t *testing.T) {
	twins := []Twin{
		{DeviceID: "d-inc", ModuleID: "readiness", Summary: &sink.Readiness{Status: "incomplete", Score: score(80), Heartbeat: ago(time.Minute)}},
		{DeviceID: "d-ready", ModuleID: "readiness", Summary: &sink.Readiness{Status: "ready", Score: score(100), Heartbeat: ago(time.Minute)}},
	}
	v := Aggregate("readiness", twins, now, time.Hour)
	if v.ByStatus != (StatusCounts{Ready: 1, Incomplete: 1}) {
		t.Errorf("by status %+v", v.ByStatus)
	}
	if v.Devices[0].DeviceID != "d-inc" || v.Devices[0].Status != "incomplete" {
		t.Errorf("devices %+v", v.Devices)
	}
	var tb bytes.Buffer
	if err := WriteTable(&tb, v); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(tb.String(), "incomplete  1\n") {
		t.Errorf("table:\n%s", tb.String())
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"incomplete":1`) {
		t.Errorf("JSON %s", b)
	}

	v = Aggregate("readiness", twins[1:], now, time.Hour)
	tb.Reset()
	if err := WriteTable(&tb, v); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(tb.String(), "incomplete") {
		t.Errorf("a fleet without an incomplete device shows the row:\n%s", tb.String())
	}
}
