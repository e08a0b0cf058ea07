package report

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/checks"
)

// Twin budget: IoT Hub refuses reported properties over 32 KB; the summary
// aims far below so that other writers and growth have room.
const (
	ReportedLimit   = 32 * 1024
	SummaryBudget   = 8 * 1024
	shortMessageLen = 120
)

// TwinSummary is the compact summary written to reported properties under "readiness".
type TwinSummary struct {
	SchemaVersion string    `json:"schemaVersion"`
	Status        string    `json:"status"`
	Score         int       `json:"score"`
	Counts        Counts    `json:"counts"`
	LastRun       time.Time `json:"lastRun"`
	DurationMs    int64     `json:"durationMs"`
	// Checks gives each check's worst status (fail, error, pass, skip), so
	// that IoT Hub queries and ADM metrics count devices by check:
	// properties.reported.readiness.checks.[[module-resource-limits]] = 'fail'.
	Checks  map[string]string `json:"checks"`
	Failing []TwinFailing     `json:"failing"`
	// FailingOmitted counts failing findings left out to stay within the budget.
	FailingOmitted int `json:"failingOmitted"`
}

// TwinFailing is one failing (or errored) finding in the summary.
type TwinFailing struct {
	ID       string `json:"id"`
	Module   string `json:"module,omitempty"`
	Subject  string `json:"subject,omitempty"`
	Severity string `json:"severity"`
	Status   string `json:"status"`
	Message  string `json:"msg"`
}

// Compact builds the twin summary of r within budget bytes (JSON), most
// severe failures first; what does not fit is counted in FailingOmitted.
func Compact(r *Report, budget int) TwinSummary {
	s := TwinSummary{SchemaVersion: SchemaVersion, Status: r.Summary.Status, Score: r.Summary.Score,
		Counts: r.Summary.Counts, LastRun: r.GeneratedAt, DurationMs: r.DurationMs, Checks: CheckStatuses(r), Failing: []TwinFailing{}}
	var failing []TwinFailing
	for i := range r.Findings {
		f := &r.Findings[i]
		if f.Status != checks.Fail && f.Status != checks.Error {
			continue
		}
		failing = append(failing, TwinFailing{ID: f.ID, Module: f.Module, Subject: f.Subject, Severity: string(f.Severity),
			Status: string(f.Status), Message: oneLine(f.Message, shortMessageLen)})
	}
	sort.SliceStable(failing, func(i, j int) bool { return sevRank(failing[i].Severity) > sevRank(failing[j].Severity) })
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

func sevRank(s string) int {
	switch s {
	case "critical":
		return 3
	case "warning":
		return 2
	case "info":
		return 1
	}
	return 0
}

func jsonSize(v any) int {
	b, err := json.Marshal(v)
	if err != nil {
		return 0
	}
	return len(b)
}

// ToMap turns a JSON-marshalable value into the generic form twins use.
func ToMap(v any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encoding twin properties: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("encoding twin properties: %w", err)
	}
	return m, nil
}

// MergePatch returns the JSON merge patch (RFC 7396) that turns from into to:
// changed keys, nested objects diffed, removed keys set to null. It ignores
// the twin's own keys ($version, $metadata). An empty result means no change.
func MergePatch(from, to map[string]any) map[string]any {
	patch := map[string]any{}
	for k, tv := range to {
		if isTwinMeta(k) {
			continue
		}
		fv, ok := from[k]
		if !ok {
			patch[k] = tv
			continue
		}
		tm, tIsMap := tv.(map[string]any)
		fm, fIsMap := fv.(map[string]any)
		if tIsMap && fIsMap {
			if sub := MergePatch(fm, tm); len(sub) > 0 {
				patch[k] = sub
			}
			continue
		}
		if !reflect.DeepEqual(normalize(fv), normalize(tv)) {
			patch[k] = tv
		}
	}
	for k := range from {
		if isTwinMeta(k) {
			continue
		}
		if _, ok := to[k]; !ok {
			patch[k] = nil
		}
	}
	return patch
}

// ApplyMergePatch applies an RFC 7396 merge patch to doc in place and returns it.
func ApplyMergePatch(doc, patch map[string]any) map[string]any {
	if doc == nil {
		doc = map[string]any{}
	}
	for k, pv := range patch {
		if pv == nil {
			delete(doc, k)
			continue
		}
		if pm, ok := pv.(map[string]any); ok {
			dm, _ := doc[k].(map[string]any)
			doc[k] = ApplyMergePatch(dm, pm)
			continue
		}
		doc[k] = pv
	}
	return doc
}

func isTwinMeta(k string) bool { return k == "$version" || k == "$metadata" }

// normalize makes numbers comparable whatever their decoded Go type.
func normalize(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

// Change is a finding whose status changed between two reports.
type Change struct {
	ID       string `json:"id"`
	Module   string `json:"module,omitempty"`
	Subject  string `json:"subject,omitempty"`
	Severity string `json:"severity"`
	From     string `json:"from"` // "" when the finding is new
	To       string `json:"to"`   // "" when the finding is gone
	Message  string `json:"message"`
}

// Changes lists findings whose status differs from prev (nil prev: none, since
// there is no baseline to compare with).
func Changes(prev map[string]string, cur *Report) []Change {
	if prev == nil {
		return nil
	}
	var out []Change
	seen := map[string]bool{}
	for i := range cur.Findings {
		f := &cur.Findings[i]
		k := f.Key()
		seen[k] = true
		if old, ok := prev[k]; !ok || old != string(f.Status) {
			out = append(out, Change{ID: f.ID, Module: f.Module, Subject: f.Subject, Severity: string(f.Severity),
				From: old, To: string(f.Status), Message: f.Message})
		}
	}
	keys := make([]string, 0, len(prev))
	for k := range prev {
		if !seen[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		parts := strings.SplitN(k, "/", 3) // id/module/subject; a subject may hold slashes
		for len(parts) < 3 {
			parts = append(parts, "")
		}
		out = append(out, Change{ID: parts[0], Module: parts[1], Subject: parts[2], From: prev[k], To: "",
			Message: "the finding is no longer reported"})
	}
	return out
}

// Statuses maps each finding's key to its status, the baseline for Changes.
func Statuses(r *Report) map[string]string {
	m := make(map[string]string, len(r.Findings))
	for i := range r.Findings {
		m[r.Findings[i].Key()] = string(r.Findings[i].Status)
	}
	return m
}
