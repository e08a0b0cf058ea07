package report

import (
	"sort"
	"strings"
)

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
