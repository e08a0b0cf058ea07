package cli

import (
	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/sink"
)

// Rules describes the checks for the outputs that carry a rule per check
// (SARIF): how each decides, how to fix what it finds, where to read more.
func Rules(all []*checks.Check) []sink.Rule {
	out := make([]sink.Rule, len(all))
	for i, c := range all {
		out[i] = sink.Rule{ID: c.ID, Title: c.Title, Section: c.Section, Severity: string(c.Severity), Decides: c.Decides,
			Remediation: c.Remediation, Reference: c.Reference}
	}
	return out
}
