package sink

import (
	"fmt"
	"sort"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/report"
)

// Folded returns a copy of r whose passing findings are folded per check:
// one finding per check lists, in its evidence, the modules and subjects
// that pass, instead of one finding each with its message and remediation.
// Failing, errored and skipped findings stay whole. A 50-module device's
// report then holds every failure and every check's pass list in a message.
func Folded(r *report.Report) *report.Report {
	c := *r
	c.Findings = make([]checks.Finding, 0, len(r.Findings))
	type group struct {
		at       int // index of the folded finding in c.Findings
		modules  []string
		subjects []string
		device   bool
	}
	groups := map[string]*group{}
	for _, f := range r.Findings {
		if f.Status != checks.Pass {
			c.Findings = append(c.Findings, f)
			continue
		}
		g, ok := groups[f.ID]
		if !ok {
			g = &group{at: len(c.Findings)}
			groups[f.ID] = g
			c.Findings = append(c.Findings, checks.Finding{ID: f.ID, Title: f.Title, Section: f.Section, Severity: f.Severity,
				Status: checks.Pass, IotedgeCheck: f.IotedgeCheck})
		}
		switch {
		case f.Module != "":
			g.modules = append(g.modules, f.Module)
		case f.Subject != "":
			g.subjects = append(g.subjects, f.Subject)
		default:
			g.device = true
		}
	}
	for _, g := range groups {
		f := &c.Findings[g.at]
		sort.Strings(g.modules)
		sort.Strings(g.subjects)
		f.Evidence = map[string]any{}
		var parts []string
		if len(g.modules) > 0 {
			f.Evidence["modules"] = g.modules
			parts = append(parts, fmt.Sprintf("%d module(s)", len(g.modules)))
		}
		if len(g.subjects) > 0 {
			f.Evidence["subjects"] = g.subjects
			parts = append(parts, fmt.Sprintf("%d subject(s)", len(g.subjects)))
		}
		if g.device {
			parts = append(parts, "the device")
		}
		f.Message = "passes for " + joinAnd(parts)
	}
	return &c
}

func joinAnd(parts []string) string {
	switch len(parts) {
	case 0:
		return "nothing"
	case 1:
		return parts[0]
	}
	out := parts[0]
	for _, p := range parts[1 : len(parts)-1] {
		out += ", " + p
	}
	return out + " and " + parts[len(parts)-1]
}
