package main

import (
	"fmt"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/emulator"
	"github.com/edge-readiness/edge-readiness/internal/policy"
	"github.com/edge-readiness/edge-readiness/internal/report"
	"github.com/edge-readiness/edge-readiness/internal/sink"
)

// sampleFleet returns the i-th device's module twin of a sample fleet, in
// the shape the readiness module writes: the reported "readiness" document
// is built by the module's own code (sink.Compact) from a finding per check
// of the catalog, and the desired properties are the layered deployment's
// policy. Per ten devices four are ready, two degraded (a warning check
// fails), three not ready (a critical check fails; on every third of them
// a check could not decide: error) and one never reported; every seventh
// device's heartbeat is three hours old (stale at the one-hour heartbeat),
// and every 25th device's policy sets a 15-minute heartbeat.
func sampleFleet(now time.Time) func(i int) emulator.FleetTwin {
	catalog := checks.All()
	var critical, warning []*checks.Check
	for _, c := range catalog {
		switch c.Severity {
		case policy.Critical:
			critical = append(critical, c)
		case policy.Warning:
			warning = append(warning, c)
		}
	}
	return func(i int) emulator.FleetTwin {
		heartbeat := "1h"
		if i%25 == 0 {
			heartbeat = "15m"
		}
		ft := emulator.FleetTwin{Desired: map[string]any{
			"schemaVersion": "1", "profile": "production", "interval": "5m", "reporting": map[string]any{"heartbeat": heartbeat},
		}}
		if i%10 == 9 {
			return ft // never reported
		}
		hb := now.Add(-time.Duration(i%50) * time.Minute)
		if i%7 == 0 {
			hb = now.Add(-3 * time.Hour)
		}
		hb = hb.UTC().Truncate(time.Second)
		failing := map[string]checks.Status{}
		switch i % 10 {
		case 4, 5:
			failing[warning[(i/10)%min(3, len(warning))].ID] = checks.Fail
		case 6, 7, 8:
			failing[critical[0].ID] = checks.Fail
			if i%10 == 8 {
				failing[critical[1+(i/10)%min(2, len(critical)-1)].ID] = checks.Fail
			}
			if i%3 == 0 {
				failing[warning[len(warning)-1].ID] = checks.Error
			}
		}
		fs := make([]checks.Finding, 0, len(catalog))
		for _, c := range catalog {
			f := checks.Finding{ID: c.ID, Title: c.Title, Section: c.Section, Severity: c.Severity, Status: checks.Pass,
				Message: c.Title}
			if st, ok := failing[c.ID]; ok {
				f.Status, f.Module = st, fmt.Sprintf("module%02d", i%12)
				f.Message = fmt.Sprintf("module %s: %s does not hold", f.Module, c.Title)
				if st == checks.Error {
					f.Message = "could not decide: the fact this check reads is missing"
				}
			}
			fs = append(fs, f)
		}
		r := &report.Report{SchemaVersion: report.SchemaVersion, GeneratedAt: hb, DurationMs: int64(800 + i%400),
			Findings: fs, Summary: report.Summarize(fs)}
		s := sink.Compact(r, sink.SummaryBudget)
		s.Heartbeat = hb
		doc, err := sink.ToMap(s)
		if err != nil {
			panic(fmt.Sprintf("sample fleet: %v", err)) // a Readiness always encodes
		}
		ft.Reported = map[string]any{sink.KeyReadiness: doc,
			"policy": map[string]any{"version": 2, "status": "applied", "errors": []any{}, "appliedVersion": 2}}
		return ft
	}
}
