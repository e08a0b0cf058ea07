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
	// Summary is the reported "readiness" document, read leniently (a
	// fleet runs several versions of the module); nil when the module never
	// reported one (or it is no object).
	Summary *sink.Readiness
	// Heartbeat is the heartbeat interval the twin's desired policy sets
	// (reporting.heartbeat); 0 when it sets none or is not a valid policy,
	// then the fleet-wide default applies.
	Heartbeat time.Duration
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
	t.Summary = sink.ReadReadiness(reported[sink.KeyReadiness])
	desired, _ := props["desired"].(map[string]any)
	t.Heartbeat = desiredHeartbeat(desired)
	return t, nil
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
