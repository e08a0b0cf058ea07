package checks

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/edge-readiness/edge-readiness/internal/facts"
	"github.com/edge-readiness/edge-readiness/internal/policy"
)

// CatalogTable renders the catalog as a Markdown table, for README.md.
func CatalogTable(all []*Check) string {
	var b strings.Builder
	b.WriteString("| id | section | default | fails when (how it decides) | parameters |\n|---|---|---|---|---|\n")
	for _, c := range all {
		fmt.Fprintf(&b, "| [`%s`](docs/checks.md#%s) | %s | %s | %s | %s |\n", c.ID, c.ID, c.Section, c.Severity,
			mdCell(c.Decides), mdCell(paramList(c.Params)))
	}
	return b.String()
}

// CatalogPage renders docs/checks.md: one section per check.
func CatalogPage(all []*Check) string {
	var b strings.Builder
	b.WriteString("# Check catalog\n\nGenerated from the check metadata (`internal/checks`) by " +
		"`go test ./internal/checks -run TestCatalogDocs -update`; a test fails when this page drifts from the code.\n\n" +
		"Severity `critical` makes the device not ready, `warning` degraded; `info` is reported only. " +
		"Set a check's severity or parameters under `checks.<id>` in the policy.\n\n")
	bySection := map[string][]*Check{}
	var sections []string
	for _, c := range all {
		if bySection[c.Section] == nil {
			sections = append(sections, c.Section)
		}
		bySection[c.Section] = append(bySection[c.Section], c)
	}
	for _, s := range sections {
		fmt.Fprintf(&b, "## %s\n\n", s)
		for _, c := range bySection[s] {
			fmt.Fprintf(&b, "### %s\n\n%s.\n\n", c.ID, c.Title)
			fmt.Fprintf(&b, "- **Default severity:** %s", c.Severity)
			if c.Helpful {
				b.WriteString(" (info under the development profile)")
			}
			b.WriteString("\n")
			fmt.Fprintf(&b, "- **Why (checklist):** %s — %s\n", c.Seed, c.Reference)
			fmt.Fprintf(&b, "- **How it decides:** %s\n", c.Decides)
			fmt.Fprintf(&b, "- **How to fix:** %s\n", c.Remediation)
			if len(c.Needs) > 0 {
				fmt.Fprintf(&b, "- **Needs:** %s (an `error` finding says so when missing)\n", joinFacts(c.Needs))
			}
			if c.History > 0 {
				fmt.Fprintf(&b, "- **Reads history:** the last %d cycles\n", c.History)
			}
			if c.IotedgeCheck != "" {
				fmt.Fprintf(&b, "- **`iotedge check` id:** %s\n", c.IotedgeCheck)
			}
			if len(c.Params) > 0 {
				b.WriteString("- **Parameters:**\n")
				ps := append([]policy.ParamSpec(nil), c.Params...)
				sort.Slice(ps, func(i, j int) bool { return ps[i].Name < ps[j].Name })
				for _, p := range ps {
					bound := ""
					if p.Max > 0 {
						bound = ", at most `" + strconv.FormatFloat(p.Max, 'f', -1, 64) + "`"
					}
					fmt.Fprintf(&b, "  - `%s` (%s, default `%s`%s): %s\n", p.Name, p.Kind, defaultString(p.Default), bound, p.Doc)
				}
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}

func paramList(ps []policy.ParamSpec) string {
	var out []string
	for _, p := range ps {
		out = append(out, fmt.Sprintf("`%s`=%s", p.Name, defaultString(p.Default)))
	}
	return strings.Join(out, ", ")
}

func defaultString(v any) string {
	if l, ok := v.([]string); ok {
		return "[" + strings.Join(l, ", ") + "]"
	}
	return fmt.Sprint(v)
}

func mdCell(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "|", "\\|"), "\n", " ") }

func joinFacts(fs []facts.Fact) string {
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = string(f)
	}
	return strings.Join(names, ", ")
}
