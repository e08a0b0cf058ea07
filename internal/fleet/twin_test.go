package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/sink"
)

func doc(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestTwinFromDoc(t *testing.T) {
	tw, err := TwinFromDoc(doc(t, `{"deviceId":"d1","moduleId":"readiness","connectionState":"Disconnected","properties":{
		"desired":{"schemaVersion":"1","reporting":{"heartbeat":"15m"},"$version":3},
		"reported":{"readiness":{"schemaVersion":"1","status":"notReady","score":42,"counts":{"total":60},
			"lastRun":"2026-03-01T10:00:00Z","heartbeat":"2026-03-01T09:00:00Z",
			"checks":{"a":"fail","b":{"status":"error"},"c":7},
			"failing":[{"id":"a","severity":"critical","status":"fail","msg":"x"},"junk",{"severity":"warning"}],"failingOmitted":2},
			"$version":9}}}`))
	if err != nil {
		t.Fatal(err)
	}
	s := tw.Summary
	if tw.DeviceID != "d1" || tw.ModuleID != "readiness" || tw.ConnectionState != "Disconnected" || tw.Heartbeat != 15*time.Minute || s == nil {
		t.Fatalf("twin = %+v", tw)
	}
	if s.Status != "notReady" || *s.Score != 42 || !s.Heartbeat.Equal(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)) || s.FailingOmitted != 2 ||
		len(s.Failing) != 1 || s.Failing[0] != (sink.ReadinessFailing{ID: "a", Severity: "critical", Status: "fail", Message: "x"}) ||
		len(s.Checks) != 2 || s.Checks["a"] != "fail" || s.Checks["b"] != "error" {
		t.Errorf("summary = %+v", s)
	}

	// Lenient: lastRun when there is no heartbeat; fields of another type
	// are left empty; an invalid desired policy gives no interval.
	tw, err = TwinFromDoc(doc(t, `{"deviceId":"d2","moduleId":"readiness","properties":{
		"desired":{"reporting":{"heartbeat":"1s"}},
		"reported":{"readiness":{"status":3,"score":"high","lastRun":"2026-03-01T10:00:00Z","failing":{"a":1}}}}}`))
	if err != nil || tw.Heartbeat != 0 || tw.Summary.Status != "" || tw.Summary.Score != nil ||
		!tw.Summary.LastSeen().Equal(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)) || tw.Summary.Failing != nil {
		t.Errorf("lenient: %+v %+v, %v", tw, tw.Summary, err)
	}

	// No summary, no desired policy.
	tw, err = TwinFromDoc(doc(t, `{"deviceId":"d3","moduleId":"readiness","properties":{"desired":{},"reported":{"readiness":"x"}}}`))
	if err != nil || tw.Summary != nil || tw.Heartbeat != 0 {
		t.Errorf("no summary: %+v, %v", tw, err)
	}
	if _, err := TwinFromDoc(doc(t, `{"moduleId":"readiness"}`)); err == nil {
		t.Error("a twin without deviceId was accepted")
	}
}

func TestModuleQuery(t *testing.T) {
	q, err := ModuleQuery("readiness")
	if err != nil || q != "SELECT deviceId, moduleId, connectionState, properties.reported.readiness AS readiness, "+
		"properties.desired.reporting AS reporting FROM devices.modules WHERE moduleId = 'readiness'" {
		t.Errorf("%q, %v", q, err)
	}
	if _, err := ModuleQuery("edge-Readiness_2:a.b"); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{"", "it's", "a b", `a\b`, "é", strings.Repeat("m", 129)} {
		if _, err := ModuleQuery(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// pages is a Querier handing out documents in pages, reusing the maps of
// the previous page as amenzhinsky/iothub's json decoding does.
type pages [][]string

func (p pages) QueryDevices(_ context.Context, query string, fn func(map[string]any) error) error {
	if !strings.Contains(query, "moduleId = 'readiness'") {
		return errors.New("unexpected query " + query)
	}
	var buf []map[string]any
	for _, page := range p {
		for i, s := range page {
			if i >= len(buf) {
				buf = append(buf, map[string]any{})
			}
			_ = json.Unmarshal([]byte(s), &buf[i]) // merges into the old map
		}
		for i := range page {
			if err := fn(buf[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

// TestQueryCopiesEachRow: rows of the projection come in pages whose maps
// the library reuses; a row without a readiness document (a device that
// never reported: IoT Hub leaves an undefined property out of the row) must
// not keep the one of the row before it.
func TestQueryCopiesEachRow(t *testing.T) {
	q := pages{
		{`{"deviceId":"a","moduleId":"readiness","readiness":{"status":"ready"},"reporting":{"heartbeat":"15m"}}`,
			`{"deviceId":"b","moduleId":"readiness","readiness":{"status":"degraded"}}`},
		{`{"deviceId":"c","moduleId":"readiness","connectionState":"Connected"}`,
			`{"deviceId":"d","moduleId":"readiness","readiness":{"status":"notReady"}}`},
		{`{"deviceId":"a","moduleId":"readiness"}`}, // a repeated row is dropped
	}
	twins, err := Query(context.Background(), q, "readiness")
	if err != nil {
		t.Fatal(err)
	}
	if len(twins) != 4 || twins[0].DeviceID != "a" || twins[0].Summary.Status != "ready" || twins[0].Heartbeat != 15*time.Minute ||
		twins[1].Summary.Status != "degraded" || twins[1].Heartbeat != 0 ||
		twins[2].DeviceID != "c" || twins[2].Summary != nil || twins[2].Heartbeat != 0 || twins[2].ConnectionState != "Connected" ||
		twins[3].DeviceID != "d" || twins[3].Summary.Status != "notReady" || twins[3].ConnectionState != "" {
		t.Errorf("twins = %+v", twins)
	}
	if _, err := Query(context.Background(), q, "it's"); err == nil {
		t.Error("a module id with a quote was queried")
	}
	bad := pages{{`{"moduleId":"readiness"}`}}
	if _, err := Query(context.Background(), bad, "readiness"); err == nil {
		t.Error("a row without deviceId was accepted")
	}
}
