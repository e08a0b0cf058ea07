package fleet_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/fleet"
	"github.com/edge-readiness/edge-readiness/internal/sink"
	"github.com/edge-readiness/edge-readiness/internal/testenv"
)

func page(t *testing.T, v fleet.View) string {
	t.Helper()
	var b bytes.Buffer
	if err := fleet.WriteHTML(&b, v); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestHTMLShowsEveryField: every value of the JSON view, walked
// generically over a view whose every field holds a value of its own, is
// on the fleet page; a field added to the view and not rendered fails.
func TestHTMLShowsEveryField(t *testing.T) {
	var v fleet.View
	testenv.Fill(&v)
	var doc bytes.Buffer
	if err := fleet.WriteJSON(&doc, v); err != nil {
		t.Fatal(err)
	}
	p := page(t, v)
	missing, err := testenv.PageMissing(doc.Bytes(), p)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range missing {
		t.Errorf("the fleet page does not show %s", m)
	}
	// The check catches a device's field left out.
	if m, _ := testenv.PageMissing(doc.Bytes(), strings.ReplaceAll(p, v.Devices[1].DeviceID, "")); len(m) == 0 {
		t.Errorf("a page without devices[1].deviceId passes the check")
	}
}

// fleetOf is a fleet of n devices in the shape the readiness module reports:
// per ten devices four ready, two degraded, three not ready, one that never
// reported; every seventh device's heartbeat is three hours old.
func fleetOf(n int, now time.Time) []fleet.Twin {
	ids := []string{"docker-socket-mounts", "module-resource-limits", "log-rotation", "clock-skew", "image-tags-pinned", "production-certificates"}
	twins := make([]fleet.Twin, 0, n)
	for i := range n {
		t := fleet.Twin{DeviceID: fmt.Sprintf("fleet-%04d", i+1), ModuleID: "readiness", ConnectionState: "Connected"}
		if i%10 == 9 {
			t.ConnectionState = "Disconnected"
			twins = append(twins, t)
			continue
		}
		hb := now.Add(-time.Duration(i%50) * time.Minute)
		if i%7 == 0 {
			hb = now.Add(-3 * time.Hour)
		}
		score := 100 - i%7
		s := &sink.Readiness{Status: "ready", Score: &score, Heartbeat: hb}
		switch i % 10 {
		case 4, 5:
			score = 70 - i%5
			s.Status = "degraded"
			s.Failing = []sink.ReadinessFailing{{ID: ids[2], Severity: "warning", Status: "fail"}}
		case 6, 7, 8:
			score = 30 - i%9
			s.Status = "notReady"
			s.Failing = []sink.ReadinessFailing{{ID: ids[0], Severity: "critical", Status: "fail"}}
			if i%10 == 8 {
				s.Failing = append(s.Failing, sink.ReadinessFailing{ID: ids[1], Severity: "critical", Status: "fail"})
			}
			if i%3 == 0 {
				s.Failing = append(s.Failing, sink.ReadinessFailing{ID: ids[3], Severity: "warning", Status: "error"})
			}
			if i%4 == 0 {
				s.Failing = append(s.Failing, sink.ReadinessFailing{ID: ids[4+i%2], Severity: "critical", Status: "fail"})
			}
		}
		t.Summary = s
		twins = append(twins, t)
	}
	return twins
}

// TestHTMLFleetSize: the page of 2,000 devices stays under 1.5 MB and
// lists every device.
func TestHTMLFleetSize(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	v := fleet.Aggregate("readiness", fleetOf(2000, now), now, time.Hour)
	start := time.Now()
	p := page(t, v)
	t.Logf("2,000 devices: page %d bytes, rendered in %s", len(p), time.Since(start))
	if len(p) >= 1_500_000 {
		t.Errorf("the 2,000-device page is %d bytes, want under 1.5 MB", len(p))
	}
	if n := strings.Count(p, "<tr><td>fleet-"); n != 2000+len(v.Stale) {
		t.Errorf("%d device lines, want %d (every device and the %d stale)", n, 2000+len(v.Stale), len(v.Stale))
	}
	b, _ := json.Marshal(v.ByStatus)
	for _, want := range []string{`<span class="st s-ready">ready</span></dt><dd>800</dd>`, `<dd>400</dd>`, `<dd>600</dd>`, `<dd>200</dd>`} {
		if !strings.Contains(p, want) {
			t.Errorf("the counts by status (%s) lack %s", b, want)
		}
	}
}
