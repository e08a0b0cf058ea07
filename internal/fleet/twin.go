// Package fleet is the service-side view of the readiness module across an
// IoT hub: it queries the module twins (query.go), aggregates their
// "readiness" summaries into counts by status, failing checks ranked by the
// devices they hit and devices that stopped reporting (aggregate.go, a pure
// function), and renders the result as a table, JSON or CSV (render.go).
package fleet

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/policy"
	"github.com/edge-readiness/edge-readiness/internal/sink"
)

// Twin is what the fleet view reads of one module twin.
type Twin struct {
	DeviceID        string
	ModuleID        string
	ConnectionState string
	// Summary is the reported "readiness" summary; nil when the module
	// never reported one (or it is no object).
	Summary *Summary
	// Heartbeat is the heartbeat interval the twin's desired policy sets
	// (reporting.heartbeat); 0 when it sets none or is not a valid policy,
	// then the fleet-wide default applies.
	Heartbeat time.Duration
}

// Summary is the part of the module's twin summary (report.TwinSummary as
// the sink writes it) that the fleet view uses. It is read leniently: a
// fleet runs several versions of the module, and a field missing or of
// another type is left empty rather than losing the device.
type Summary struct {
	Status string
	Score  *int
	// Heartbeat is the time of the latest heartbeat, else of the latest
	// run; zero when the summary carries neither.
	Heartbeat      time.Time
	Failing        []Failing
	FailingOmitted int
	// Checks is each check's worst status (newer modules report it).
	Checks map[string]string
}

// Failing is one failing or errored finding of a summary.
type Failing struct {
	ID       string `json:"id"`
	Severity string `json:"severity"`
	Status   string `json:"status"`
}

// summaryDoc decodes the summary with every field optional.
type summaryDoc struct {
	Status         any `json:"status"`
	Score          any `json:"score"`
	Heartbeat      any `json:"heartbeat"`
	LastRun        any `json:"lastRun"`
	Failing        any `json:"failing"`
	FailingOmitted any `json:"failingOmitted"`
	Checks         any `json:"checks"`
}

// TwinFromDoc reads a module twin document as the service API returns it
// (deviceId, moduleId, connectionState, properties.desired/reported). It
// copies what it keeps: the document may be reused by the caller.
func TwinFromDoc(doc map[string]any) (Twin, error) {
	t := Twin{}
	t.DeviceID, _ = doc["deviceId"].(string)
	t.ModuleID, _ = doc["moduleId"].(string)
	t.ConnectionState, _ = doc["connectionState"].(string)
	if t.DeviceID == "" {
		return t, fmt.Errorf("a twin without deviceId")
	}
	props, _ := doc["properties"].(map[string]any)
	reported, _ := props["reported"].(map[string]any)
	if r, ok := reported[sink.KeyReadiness].(map[string]any); ok {
		t.Summary = summaryFrom(r)
	}
	desired, _ := props["desired"].(map[string]any)
	t.Heartbeat = desiredHeartbeat(desired)
	return t, nil
}

func summaryFrom(r map[string]any) *Summary {
	b, err := json.Marshal(r)
	if err != nil {
		return &Summary{}
	}
	var d summaryDoc
	_ = json.Unmarshal(b, &d) // the fields are all "any": it cannot fail on an object
	s := &Summary{}
	s.Status, _ = d.Status.(string)
	if f, ok := d.Score.(float64); ok {
		n := int(f)
		s.Score = &n
	}
	s.Heartbeat = timeOf(d.Heartbeat)
	if s.Heartbeat.IsZero() {
		s.Heartbeat = timeOf(d.LastRun)
	}
	if f, ok := d.FailingOmitted.(float64); ok {
		s.FailingOmitted = int(f)
	}
	list, _ := d.Failing.([]any)
	for _, x := range list {
		m, ok := x.(map[string]any)
		if !ok {
			continue
		}
		var f Failing
		f.ID, _ = m["id"].(string)
		f.Severity, _ = m["severity"].(string)
		f.Status, _ = m["status"].(string)
		if f.ID != "" {
			s.Failing = append(s.Failing, f)
		}
	}
	// checks: {"id": "fail"} or {"id": {"status": "fail", ...}}.
	if m, ok := d.Checks.(map[string]any); ok {
		s.Checks = make(map[string]string, len(m))
		for id, v := range m {
			switch v := v.(type) {
			case string:
				s.Checks[id] = v
			case map[string]any:
				if st, ok := v["status"].(string); ok {
					s.Checks[id] = st
				}
			}
		}
	}
	return s
}

func timeOf(v any) time.Time {
	s, ok := v.(string)
	if !ok {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

// specs are the checks' parameters the policy decoder validates against.
var specs = checks.Specs(checks.All())

// desiredHeartbeat is the heartbeat a desired policy sets, decoded as the
// module decodes it; 0 when it sets none, or the policy is not one the
// module would apply.
func desiredHeartbeat(desired map[string]any) time.Duration {
	rep, ok := desired["reporting"].(map[string]any)
	if !ok {
		return 0
	}
	if _, ok := rep["heartbeat"]; !ok {
		return 0
	}
	b, err := json.Marshal(desired)
	if err != nil {
		return 0
	}
	p, err := policy.Decode(b, specs)
	if err != nil {
		return 0
	}
	return p.Heartbeat
}
