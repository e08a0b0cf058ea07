package fleet

import (
	"reflect"
	"testing"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/sink"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) time.Time { return now.Add(-d) }

func score(n int) *int { return &n }

func TestAggregate(t *testing.T) {
	const hour = time.Hour
	twins := []Twin{
		{DeviceID: "d-ready", ModuleID: "readiness", Summary: &sink.Readiness{Status: "ready", Score: score(95), Heartbeat: ago(30 * time.Minute)}},
		{DeviceID: "d-deg", ModuleID: "readiness", ConnectionState: "Connected", Summary: &sink.Readiness{Status: "degraded", Score: score(70), Heartbeat: ago(90 * time.Minute),
			Failing: []sink.ReadinessFailing{{ID: "log-rotation", Severity: "warning", Status: "fail"}, {ID: "log-rotation", Severity: "warning", Status: "fail"}}}},
		// Stale: 3h > 2 × 1h.
		{DeviceID: "d-not", ModuleID: "readiness", Summary: &sink.Readiness{Status: "notReady", Score: score(20), Heartbeat: ago(3 * hour),
			Failing: []sink.ReadinessFailing{{ID: "docker-socket-mounts", Severity: "critical", Status: "fail"}, {ID: "log-rotation", Severity: "critical", Status: "error"}}}},
		// Fresh because its own policy's heartbeat is 4h (stale after 8h).
		{DeviceID: "d-slow", ModuleID: "readiness", Heartbeat: 4 * hour, Summary: &sink.Readiness{Status: "notReady", Heartbeat: ago(5 * hour),
			Failing: []sink.ReadinessFailing{{ID: "docker-socket-mounts", Severity: "critical"}}, FailingOmitted: 3}},
		// Known failing only from the per-check statuses.
		{DeviceID: "d-checks", ModuleID: "readiness", Summary: &sink.Readiness{Status: "degraded", Heartbeat: ago(10 * hour),
			Checks: map[string]string{"clock-skew": "fail", "log-rotation": "pass", "dns": "error", "x": "skip"}}},
		{DeviceID: "d-never", ModuleID: "readiness"},
		{DeviceID: "d-odd", ModuleID: "readiness", Summary: &sink.Readiness{Status: "exploded"}},
		// A heartbeat from the future (fast device clock) is fresh.
		{DeviceID: "d-future", ModuleID: "readiness", Summary: &sink.Readiness{Status: "ready", Heartbeat: now.Add(10 * time.Minute)}},
	}
	v := Aggregate("readiness", twins, now, hour)

	if v.Total != 8 || v.ByStatus != (StatusCounts{Ready: 2, Degraded: 2, NotReady: 2, Unknown: 2}) {
		t.Errorf("total %d, by status %+v", v.Total, v.ByStatus)
	}
	if v.Truncated != 1 {
		t.Errorf("truncated = %d, want 1", v.Truncated)
	}
	// log-rotation fails on d-deg (warning) and errors on d-not (critical);
	// docker-socket-mounts' entry on d-slow has no status: a failure. Equal
	// counts and severities rank by id.
	wantFailing := []CheckCount{
		{ID: "docker-socket-mounts", Devices: 2, Severity: "critical", DeviceIDs: []string{"d-not", "d-slow"}},
		{ID: "log-rotation", Devices: 2, Errored: 1, Severity: "critical", DeviceIDs: []string{"d-deg", "d-not"}},
		{ID: "clock-skew", Devices: 1, DeviceIDs: []string{"d-checks"}},
		{ID: "dns", Devices: 1, Errored: 1, DeviceIDs: []string{"d-checks"}},
	}
	if !reflect.DeepEqual(v.Failing, wantFailing) {
		t.Errorf("failing =\n%+v\nwant\n%+v", v.Failing, wantFailing)
	}

	var stale []string
	for _, d := range v.Stale {
		stale = append(stale, d.DeviceID+":"+d.Freshness)
	}
	if want := []string{"d-never:never", "d-odd:never", "d-checks:stale", "d-not:stale"}; !reflect.DeepEqual(stale, want) {
		t.Errorf("stale = %v, want %v", stale, want)
	}

	byID := map[string]Device{}
	for _, d := range v.Devices {
		byID[d.DeviceID] = d
	}
	if d := byID["d-not"]; time.Duration(d.Age) != 3*hour || time.Duration(d.StaleAfter) != 2*hour || *d.Score != 20 ||
		!reflect.DeepEqual(d.Failing, []string{"docker-socket-mounts", "log-rotation"}) {
		t.Errorf("d-not = %+v", d)
	}
	if d := byID["d-slow"]; d.Freshness != Fresh || time.Duration(d.StaleAfter) != 8*hour {
		t.Errorf("d-slow = %+v", d)
	}
	if d := byID["d-future"]; d.Freshness != Fresh || d.Age != 0 {
		t.Errorf("d-future = %+v", d)
	}
	if d := byID["d-never"]; d.Status != Unknown || d.Heartbeat != nil || d.Score != nil || d.Failing == nil {
		t.Errorf("d-never = %+v", d)
	}
	if d := byID["d-deg"]; d.ConnectionState != "Connected" || !reflect.DeepEqual(d.Failing, []string{"log-rotation"}) {
		t.Errorf("d-deg = %+v", d)
	}
	if v.Devices[0].DeviceID != "d-checks" || v.Devices[len(v.Devices)-1].DeviceID != "d-slow" {
		t.Errorf("devices are not in id order: %s … %s", v.Devices[0].DeviceID, v.Devices[len(v.Devices)-1].DeviceID)
	}
}

func TestAggregateTable(t *testing.T) {
	hb := func(d time.Duration) *sink.Readiness { return &sink.Readiness{Status: "ready", Heartbeat: ago(d)} }
	for _, c := range []struct {
		name      string
		twin      Twin
		heartbeat time.Duration
		status    string
		fresh     string
	}{
		{"no summary", Twin{DeviceID: "d"}, time.Hour, Unknown, Never},
		{"summary without time", Twin{DeviceID: "d", Summary: &sink.Readiness{Status: "ready"}}, time.Hour, "ready", Never},
		{"just fresh", Twin{DeviceID: "d", Summary: hb(2 * time.Hour)}, time.Hour, "ready", Fresh},
		{"just stale", Twin{DeviceID: "d", Summary: hb(2*time.Hour + time.Second)}, time.Hour, "ready", Stale},
		{"default interval from the flag", Twin{DeviceID: "d", Summary: hb(3 * time.Hour)}, 2 * time.Hour, "ready", Fresh},
		{"the twin's own interval wins", Twin{DeviceID: "d", Heartbeat: time.Minute, Summary: hb(3 * time.Minute)}, time.Hour, "ready", Stale},
		{"empty status", Twin{DeviceID: "d", Summary: &sink.Readiness{Heartbeat: now}}, time.Hour, Unknown, Fresh},
	} {
		v := Aggregate("m", []Twin{c.twin}, now, c.heartbeat)
		if d := v.Devices[0]; d.Status != c.status || d.Freshness != c.fresh {
			t.Errorf("%s: status %s, freshness %s; want %s, %s", c.name, d.Status, d.Freshness, c.status, c.fresh)
		}
		if (v.Devices[0].Freshness != Fresh) != (len(v.Stale) == 1) {
			t.Errorf("%s: stale list %v", c.name, v.Stale)
		}
	}
}

func TestAggregateEmpty(t *testing.T) {
	v := Aggregate("readiness", nil, now, time.Hour)
	if v.Total != 0 || v.Failing == nil || v.Stale == nil || v.Devices == nil {
		t.Errorf("empty view = %+v (lists must be [] in JSON, not null)", v)
	}
}
