package sink

import (
	"encoding/json"
	"sort"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/policy"
	"github.com/edge-readiness/edge-readiness/internal/report"
)

// Twin budget: IoT Hub refuses reported properties over 32 KB; the summary
// aims far below so that other writers and growth have room.
const (
	ReportedLimit   = 32 * 1024
	SummaryBudget   = 8 * 1024
	shortMessageLen = 120
)

// Readiness is the module twin's reported "readiness" document: the compact
// summary of the latest report and the heartbeat. It is the one type of that
// document: the Twin sink writes it, the module reads it back at start
// (daemon) and the fleet view reads it from every device's twin, all through
// Compact and ReadReadiness.
type Readiness struct {
	SchemaVersion string `json:"schemaVersion"`
	Status        string `json:"status"`
	// Score is nil only when read from a twin that carries none.
	Score      *int          `json:"score"`
	Counts     report.Counts `json:"counts"`
	LastRun    time.Time     `json:"lastRun"`
	DurationMs int64         `json:"durationMs"`
	// Heartbeat is when the module last refreshed the document, to the
	// second; zero (and left out) in a summary that is not in the twin.
	Heartbeat time.Time `json:"heartbeat,omitzero"`
	// Checks gives each check's worst status (fail, error, pass, skip), so
	// that IoT Hub queries and ADM metrics count devices by check:
	// properties.reported.readiness.checks.[[module-resource-limits]] = 'fail'.
	Checks  map[string]string  `json:"checks"`
	Failing []ReadinessFailing `json:"failing"`
	// FailingOmitted counts failing findings left out to stay within the budget.
	FailingOmitted int `json:"failingOmitted"`
	// Lifecycle is the newest entry of the IoT Edge lifecycle table the
	// report was judged against ("1.6=2028-11-14"), so that a fleet finds
	// the devices judged with stale knowledge.
	Lifecycle string `json:"lifecycle,omitempty"`
}

// ReadinessFailing is one failing (or errored) finding in the summary.
type ReadinessFailing struct {
	ID       string `json:"id"`
	Module   string `json:"module,omitempty"`
	Subject  string `json:"subject,omitempty"`
	Severity string `json:"severity"`
	Status   string `json:"status"`
	Message  string `json:"msg"`
}

// LastSeen is the time of the latest heartbeat, else of the latest run; zero
// when the document carries neither.
func (s *Readiness) LastSeen() time.Time {
	if !s.Heartbeat.IsZero() {
		return s.Heartbeat
	}
	return s.LastRun
}

// Compact builds the twin summary of r within budget bytes (JSON), most
// severe failures first; what does not fit is counted in FailingOmitted.
func Compact(r *report.Report, budget int) Readiness {
	score := r.Summary.Score
	s := Readiness{SchemaVersion: report.SchemaVersion, Status: r.Summary.Status, Score: &score,
		Counts: r.Summary.Counts, LastRun: r.GeneratedAt, DurationMs: r.DurationMs, Checks: report.CheckStatuses(r), Failing: []ReadinessFailing{},
		Lifecycle: r.Policy.Lifecycle}
	var failing []ReadinessFailing
	for i := range r.Findings {
		f := &r.Findings[i]
		if f.Status != checks.Fail && f.Status != checks.Error {
			continue
		}
		failing = append(failing, ReadinessFailing{ID: f.ID, Module: f.Module, Subject: f.Subject, Severity: string(f.Severity),
			Status: string(f.Status), Message: oneLine(f.Message, shortMessageLen)})
	}
	sort.SliceStable(failing, func(i, j int) bool {
		return policy.Severity(failing[i].Severity).Rank() > policy.Severity(failing[j].Severity).Rank()
	})
	size := jsonSize(s) + 32 // room for the omitted count's digits
	for i, f := range failing {
		n := jsonSize(f) + 1
		if size+n > budget {
			s.FailingOmitted = len(failing) - i
			break
		}
		size += n
		s.Failing = append(s.Failing, f)
	}
	return s
}

func jsonSize(v any) int {
	b, err := json.Marshal(v)
	if err != nil {
		return 0
	}
	return len(b)
}

// ReadReadiness reads a "readiness" document as a twin holds it (decoded
// JSON); nil when v is no object. It is lenient: a fleet runs several
// versions of the module, and a field missing or of another type is left
// empty rather than losing the device. Failing entries without an id are
// dropped; a check's status may be a string or an object with a status.
func ReadReadiness(v any) *Readiness {
	doc, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	s := &Readiness{}
	s.SchemaVersion, _ = doc["schemaVersion"].(string)
	s.Status, _ = doc["status"].(string)
	if f, ok := doc["score"].(float64); ok {
		n := int(f)
		s.Score = &n
	}
	if c, ok := doc["counts"].(map[string]any); ok {
		s.Counts = readCounts(c)
	}
	s.LastRun = timeOf(doc["lastRun"])
	s.Heartbeat = timeOf(doc["heartbeat"])
	if f, ok := doc["durationMs"].(float64); ok {
		s.DurationMs = int64(f)
	}
	if f, ok := doc["failingOmitted"].(float64); ok {
		s.FailingOmitted = int(f)
	}
	list, _ := doc["failing"].([]any)
	for _, x := range list {
		m, ok := x.(map[string]any)
		if !ok {
			continue
		}
		var f ReadinessFailing
		f.ID, _ = m["id"].(string)
		f.Module, _ = m["module"].(string)
		f.Subject, _ = m["subject"].(string)
		f.Severity, _ = m["severity"].(string)
		f.Status, _ = m["status"].(string)
		f.Message, _ = m["msg"].(string)
		if f.ID != "" {
			s.Failing = append(s.Failing, f)
		}
	}
	// checks: {"id": "fail"} or {"id": {"status": "fail", ...}}.
	if m, ok := doc["checks"].(map[string]any); ok {
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

// readCounts reads the counts the same lenient way: through their JSON
// names, a field of another type left at zero.
func readCounts(m map[string]any) report.Counts {
	var c report.Counts
	b, err := json.Marshal(m)
	if err != nil {
		return c
	}
	_ = json.Unmarshal(b, &c) // a field of another type stays zero; the others are read
	return c
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
