package sink

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/policy"
)

// SARIF writes each report as a SARIF 2.1.0 log, the format code scanning
// reads (GitHub's upload-sarif, Azure DevOps' SARIF viewer): one rule per
// check, with how it decides and how to fix what it finds; one result per
// failed or errored finding, at error, warning or note level for a critical,
// warning or info severity. A finding that carries a Location (a module's
// line in a deployment manifest) is located there; one about a device names
// its module as a logical location.
type SARIF struct{ w io.Writer }

// NewSARIF returns a SARIF sink writing to w.
func NewSARIF(w io.Writer) *SARIF { return &SARIF{w: w} }

var _ Sink = (*SARIF)(nil)

// Name implements Sink.
func (*SARIF) Name() string { return "sarif" }

// SARIF's schema and the tool's home.
const (
	SARIFSchema  = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
	toolName     = "edge-readiness"
	toolHomepage = "https://github.com/edge-readiness/edge-readiness"
)

type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool        sarifTool         `json:"tool"`
	ColumnKind  string            `json:"columnKind,omitempty"`
	Invocations []sarifInvocation `json:"invocations"`
	Results     []sarifResult     `json:"results"`
	Properties  map[string]any    `json:"properties,omitempty"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
}

type sarifInvocation struct {
	ExecutionSuccessful bool   `json:"executionSuccessful"`
	EndTimeUTC          string `json:"endTimeUtc,omitempty"`
	// Notifications say what kept the run from deciding every check.
	Notifications []sarifNotification `json:"toolExecutionNotifications,omitempty"`
}

type sarifNotification struct {
	Level   string    `json:"level"`
	Message sarifText `json:"message"`
}

type sarifText struct {
	Text     string `json:"text"`
	Markdown string `json:"markdown,omitempty"`
}

type sarifRule struct {
	ID                   string         `json:"id"`
	ShortDescription     sarifText      `json:"shortDescription"`
	FullDescription      *sarifText     `json:"fullDescription,omitempty"`
	Help                 *sarifText     `json:"help,omitempty"`
	HelpURI              string         `json:"helpUri,omitempty"`
	DefaultConfiguration sarifConfig    `json:"defaultConfiguration"`
	Properties           map[string]any `json:"properties,omitempty"`
}

type sarifConfig struct {
	Level string `json:"level"`
}

type sarifResult struct {
	RuleID              string            `json:"ruleId"`
	RuleIndex           int               `json:"ruleIndex"`
	Level               string            `json:"level"`
	Message             sarifText         `json:"message"`
	Locations           []sarifLocation   `json:"locations,omitempty"`
	PartialFingerprints map[string]string `json:"partialFingerprints"`
	Fixes               []sarifFix        `json:"fixes,omitempty"`
	Properties          map[string]any    `json:"properties,omitempty"`
}

type sarifFix struct {
	Description     sarifText             `json:"description"`
	ArtifactChanges []sarifArtifactChange `json:"artifactChanges"`
}

type sarifArtifactChange struct {
	ArtifactLocation sarifArtifact      `json:"artifactLocation"`
	Replacements     []sarifReplacement `json:"replacements"`
}

type sarifReplacement struct {
	DeletedRegion   sarifCharRegion `json:"deletedRegion"`
	InsertedContent *sarifText      `json:"insertedContent,omitempty"`
}

// sarifCharRegion counts characters as the run's columnKind says
// (unicodeCodePoints).
type sarifCharRegion struct {
	CharOffset int `json:"charOffset"`
	CharLength int `json:"charLength"`
}

type sarifLocation struct {
	PhysicalLocation *sarifPhysical `json:"physicalLocation,omitempty"`
	LogicalLocations []sarifLogical `json:"logicalLocations,omitempty"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifact `json:"artifactLocation"`
	Region           *sarifRegion  `json:"region,omitempty"`
}

type sarifArtifact struct {
	URI string `json:"uri"`
}

type sarifRegion struct {
	StartLine int `json:"startLine"`
}

type sarifLogical struct {
	Name string `json:"name"`
	Kind string `json:"kind,omitempty"`
}

// sarifLevel maps a severity to a SARIF level.
func sarifLevel(s string) string {
	switch policy.Severity(s) {
	case policy.Critical:
		return "error"
	case policy.Info:
		return "note"
	}
	return "warning"
}

// Publish writes ev's report; an event without one writes nothing.
func (s *SARIF) Publish(_ context.Context, ev Event) error {
	r := ev.Report
	if r == nil {
		return nil
	}
	run := sarifRun{
		Tool:        sarifTool{Driver: sarifDriver{Name: toolName, InformationURI: toolHomepage, Rules: []sarifRule{}}},
		Invocations: []sarifInvocation{{ExecutionSuccessful: true, EndTimeUTC: r.GeneratedAt.UTC().Format(time.RFC3339)}},
		Results:     []sarifResult{},
		Properties: map[string]any{"readiness": r.Summary.Status, "score": r.Summary.Score, "counts": r.Summary.Counts,
			"device": orEmpty(r.Device.DeviceID, r.Device.Hostname)},
	}
	if r.Summary.Incomplete != "" {
		run.Invocations[0].Notifications = []sarifNotification{{Level: "error", Message: sarifText{Text: "incomplete: " + r.Summary.Incomplete}}}
		run.Properties["unresolved"] = r.Summary.Unresolved
	}
	index := map[string]int{}
	addRule := func(ru Rule) {
		if _, ok := index[ru.ID]; ok {
			return
		}
		index[ru.ID] = len(run.Tool.Driver.Rules)
		run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, sarifRuleOf(ru))
	}
	for _, ru := range ev.Rules {
		addRule(ru)
	}
	for i := range r.Findings {
		f := &r.Findings[i]
		addRule(Rule{ID: f.ID, Title: f.Title, Section: f.Section, Severity: string(f.Severity), Remediation: f.Remediation, Reference: f.Reference})
		if f.Status != checks.Fail && f.Status != checks.Error {
			continue
		}
		res := sarifResult{RuleID: f.ID, RuleIndex: index[f.ID], Level: sarifLevel(string(f.Severity)),
			Message:             sarifText{Text: f.Message},
			PartialFingerprints: map[string]string{"findingKey/v1": f.Key()},
			Properties:          map[string]any{"status": string(f.Status), "severity": string(f.Severity), "section": f.Section}}
		if f.Module != "" {
			res.Properties["module"] = f.Module
		}
		if f.Subject != "" {
			res.Properties["subject"] = f.Subject
		}
		if loc := sarifLocationOf(f); loc != nil {
			res.Locations = []sarifLocation{*loc}
		}
		if fx, ok := ev.Fixes[f.Key()]; ok && f.Location != nil && f.Location.URI != "" {
			res.Fixes = []sarifFix{sarifFixOf(f.Location.URI, fx)}
			run.ColumnKind = "unicodeCodePoints"
		}
		run.Results = append(run.Results, res)
	}
	enc := json.NewEncoder(s.w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(sarifLog{Schema: SARIFSchema, Version: "2.1.0", Runs: []sarifRun{run}}); err != nil {
		return fmt.Errorf("writing SARIF: %w", err)
	}
	return nil
}

// sarifLocationOf is where a finding points: its file and line when it has
// a Location, its module as a logical location, or nowhere (device-wide).
func sarifLocationOf(f *checks.Finding) *sarifLocation {
	var loc sarifLocation
	if f.Location != nil && f.Location.URI != "" {
		loc.PhysicalLocation = &sarifPhysical{ArtifactLocation: sarifArtifact{URI: f.Location.URI}}
		if f.Location.Line > 0 {
			loc.PhysicalLocation.Region = &sarifRegion{StartLine: f.Location.Line}
		}
	}
	if f.Module != "" {
		loc.LogicalLocations = []sarifLogical{{Name: f.Module, Kind: "module"}}
	}
	if loc.PhysicalLocation == nil && loc.LogicalLocations == nil {
		return nil
	}
	return &loc
}

// sarifFixOf is a fix as SARIF's suggested change to the file at uri.
func sarifFixOf(uri string, fx Fix) sarifFix {
	ch := sarifArtifactChange{ArtifactLocation: sarifArtifact{URI: uri}, Replacements: []sarifReplacement{}}
	for _, r := range fx.Replacements {
		rep := sarifReplacement{DeletedRegion: sarifCharRegion{CharOffset: r.CharOffset, CharLength: r.CharLength}}
		if r.Text != "" {
			rep.InsertedContent = &sarifText{Text: r.Text}
		}
		ch.Replacements = append(ch.Replacements, rep)
	}
	return sarifFix{Description: sarifText{Text: fx.Description}, ArtifactChanges: []sarifArtifactChange{ch}}
}

func sarifRuleOf(ru Rule) sarifRule {
	out := sarifRule{ID: ru.ID, ShortDescription: sarifText{Text: orEmpty(ru.Title, ru.ID)}, HelpURI: ru.Reference,
		DefaultConfiguration: sarifConfig{Level: sarifLevel(ru.Severity)}}
	if ru.Decides != "" {
		out.FullDescription = &sarifText{Text: ru.Decides}
	}
	var text, md []string
	if ru.Decides != "" {
		text = append(text, "How it decides: "+ru.Decides)
		md = append(md, "**How it decides:** "+ru.Decides)
	}
	if ru.Remediation != "" {
		text = append(text, "How to fix: "+ru.Remediation)
		md = append(md, "**How to fix:** "+ru.Remediation)
	}
	if ru.Reference != "" {
		text = append(text, "Reference: "+ru.Reference)
		md = append(md, "**Reference:** <"+ru.Reference+">")
	}
	if len(text) > 0 {
		out.Help = &sarifText{Text: strings.Join(text, "\n\n"), Markdown: strings.Join(md, "\n\n")}
	}
	tags := []string{"iot-edge"}
	if ru.Section != "" {
		tags = append(tags, ru.Section)
	}
	out.Properties = map[string]any{"tags": tags}
	return out
}

// orEmpty returns the first non-empty string.
func orEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
