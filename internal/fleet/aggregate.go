package fleet

import (
	"sort"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/policy"
	"github.com/edge-readiness/edge-readiness/internal/report"
	"github.com/edge-readiness/edge-readiness/internal/sink"
)

// Unknown is the status of a device whose twin holds no readable summary.
const Unknown = "unknown"

// Freshness of a device's heartbeat.
const (
	Fresh = "ok"    // within twice its heartbeat interval
	Stale = "stale" // older than that: the module or the device is down, or offline
	Never = "never" // no summary, or one without a time: never reported
)

// View is the fleet's readiness.
type View struct {
	Module      string    `json:"module"`
	GeneratedAt time.Time `json:"generatedAt"`
	// Heartbeat is the default heartbeat interval, for twins whose desired
	// policy sets none; a heartbeat older than twice a device's interval is
	// stale.
	Heartbeat Duration     `json:"heartbeatInterval"`
	Total     int          `json:"total"`
	ByStatus  StatusCounts `json:"byStatus"`
	// Failing ranks the checks by the number of devices they fail (or
	// error) on.
	Failing []CheckCount `json:"failingChecks"`
	// Truncated counts devices whose summary left failing findings out to
	// fit the twin (failingOmitted): on them the ranking may undercount.
	Truncated int `json:"truncatedSummaries"`
	// Stale lists the devices whose heartbeat is stale or that never
	// reported: never first, then the oldest heartbeat first.
	Stale   []Device `json:"stale"`
	Devices []Device `json:"devices"`
	// Partial is set when a page of the query failed after its retries:
	// the view holds the devices of the pages read only.
	Partial *Partial `json:"partial,omitempty"`
}

// Partial says what a partial view read before the query failed.
type Partial struct {
	DevicesRead int    `json:"devicesRead"`
	PagesRead   int64  `json:"pagesRead"`
	Error       string `json:"error"`
}

// StatusCounts counts devices by readiness status.
type StatusCounts struct {
	Ready    int `json:"ready"`
	Degraded int `json:"degraded"`
	NotReady int `json:"notReady"`
	// Incomplete counts devices whose checks could not all be decided
	// (a deployment's variables left unresolved); a module on a device
	// reports it only in that case, so it is left out when none does.
	Incomplete int `json:"incomplete,omitempty"`
	Unknown    int `json:"unknown"`
}

// CheckCount is one check failing across the fleet.
type CheckCount struct {
	ID string `json:"id"`
	// Devices it fails or errors on; Errored of them are errors (the check
	// could not decide, e.g. a fact source failed).
	Devices int `json:"devices"`
	Errored int `json:"errored"`
	// Severity is the worst severity seen in the summaries' failing lists;
	// "" when the check is known only from a per-check status.
	Severity  string   `json:"severity"`
	DeviceIDs []string `json:"deviceIds"`
}

// Device is one device's line of the view.
type Device struct {
	DeviceID        string     `json:"deviceId"`
	ModuleID        string     `json:"moduleId"`
	Status          string     `json:"status"`
	Score           *int       `json:"score"`
	Heartbeat       *time.Time `json:"heartbeat"`
	Age             Duration   `json:"heartbeatAge"`
	StaleAfter      Duration   `json:"staleAfter"`
	Freshness       string     `json:"freshness"`
	ConnectionState string     `json:"connectionState,omitempty"`
	Failing         []string   `json:"failing"`
}

// Duration renders as Go's duration text ("2h0m0s").
type Duration time.Duration

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// Aggregate builds the view of module's twins at now; heartbeat is the
// interval for twins whose desired policy sets none. It is a pure function
// of its arguments.
func Aggregate(module string, twins []Twin, now time.Time, heartbeat time.Duration) View {
	v := View{Module: module, GeneratedAt: now.UTC(), Heartbeat: Duration(heartbeat), Total: len(twins),
		Failing: []CheckCount{}, Stale: []Device{}, Devices: make([]Device, 0, len(twins))}
	byCheck := map[string]*CheckCount{}
	for _, t := range twins {
		d := device(t, now, heartbeat)
		switch d.Status {
		case report.Ready:
			v.ByStatus.Ready++
		case report.Degraded:
			v.ByStatus.Degraded++
		case report.NotReady:
			v.ByStatus.NotReady++
		case report.Incomplete:
			v.ByStatus.Incomplete++
		default:
			v.ByStatus.Unknown++
		}
		if t.Summary != nil {
			if t.Summary.FailingOmitted > 0 {
				v.Truncated++
			}
			for id, st := range failingChecks(t.Summary) {
				c := byCheck[id]
				if c == nil {
					c = &CheckCount{ID: id}
					byCheck[id] = c
				}
				c.Devices++
				if st.status == string(checks.Error) {
					c.Errored++
				}
				if policy.Severity(st.severity).Rank() > policy.Severity(c.Severity).Rank() {
					c.Severity = st.severity
				}
				c.DeviceIDs = append(c.DeviceIDs, t.DeviceID)
			}
		}
		v.Devices = append(v.Devices, d)
		if d.Freshness != Fresh {
			v.Stale = append(v.Stale, d)
		}
	}
	for _, c := range byCheck {
		sort.Strings(c.DeviceIDs)
		v.Failing = append(v.Failing, *c)
	}
	sort.Slice(v.Failing, func(i, j int) bool {
		a, b := v.Failing[i], v.Failing[j]
		if a.Devices != b.Devices {
			return a.Devices > b.Devices
		}
		if policy.Severity(a.Severity).Rank() != policy.Severity(b.Severity).Rank() {
			return policy.Severity(a.Severity).Rank() > policy.Severity(b.Severity).Rank()
		}
		return a.ID < b.ID
	})
	sort.Slice(v.Devices, func(i, j int) bool { return deviceLess(v.Devices[i], v.Devices[j]) })
	sort.Slice(v.Stale, func(i, j int) bool {
		a, b := v.Stale[i], v.Stale[j]
		if (a.Freshness == Never) != (b.Freshness == Never) {
			return a.Freshness == Never
		}
		if a.Age != b.Age {
			return a.Age > b.Age
		}
		return deviceLess(a, b)
	})
	return v
}

func deviceLess(a, b Device) bool {
	if a.DeviceID != b.DeviceID {
		return a.DeviceID < b.DeviceID
	}
	return a.ModuleID < b.ModuleID
}

func device(t Twin, now time.Time, heartbeat time.Duration) Device {
	interval := heartbeat
	if t.Heartbeat > 0 {
		interval = t.Heartbeat
	}
	d := Device{DeviceID: t.DeviceID, ModuleID: t.ModuleID, Status: Unknown, StaleAfter: Duration(2 * interval),
		Freshness: Never, ConnectionState: t.ConnectionState, Failing: []string{}}
	s := t.Summary
	if s == nil {
		return d
	}
	switch s.Status {
	case report.Ready, report.Degraded, report.Incomplete, report.NotReady:
		d.Status = s.Status
	}
	d.Score = s.Score
	if seen := s.LastSeen(); !seen.IsZero() {
		hb := seen.UTC()
		d.Heartbeat = &hb
		age := max(now.Sub(hb), 0).Round(time.Second) // a heartbeat from the future (a fast clock) is fresh
		d.Age = Duration(age)
		d.Freshness = Fresh
		if age > 2*interval {
			d.Freshness = Stale
		}
	}
	for id := range failingChecks(s) {
		d.Failing = append(d.Failing, id)
	}
	sort.Strings(d.Failing)
	return d
}

type checkState struct{ status, severity string }

// failingChecks are the checks failing or erroring in a summary: those of
// its failing list, and those whose per-check status is fail or error.
func failingChecks(s *sink.Readiness) map[string]checkState {
	out := map[string]checkState{}
	worse := func(id string, st checkState) {
		cur, ok := out[id]
		if !ok {
			out[id] = st
			return
		}
		if cur.status != string(checks.Fail) && st.status == string(checks.Fail) {
			cur.status = st.status
		}
		if policy.Severity(st.severity).Rank() > policy.Severity(cur.severity).Rank() {
			cur.severity = st.severity
		}
		out[id] = cur
	}
	for _, f := range s.Failing {
		switch f.Status {
		case string(checks.Fail), string(checks.Error):
			worse(f.ID, checkState{f.Status, f.Severity})
		case "": // the list holds failures only: an entry without a status is one
			worse(f.ID, checkState{string(checks.Fail), f.Severity})
		}
	}
	for id, st := range s.Checks {
		if st == string(checks.Fail) || st == string(checks.Error) {
			worse(id, checkState{status: st})
		}
	}
	return out
}
