package checks_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/facts"
	"github.com/edge-readiness/edge-readiness/internal/policy"
)

// catalogEntry is one row of CHECKS.md or CHECKS-operations.md.
type catalogEntry struct {
	order    int
	section  string
	severity policy.Severity
	row      string // the whole row, to find parameters in
}

var (
	idRE = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
	// "| `id` | warning |" or "| `id` | warning (critical for edgeAgent and edgeHub) |":
	// the default severity, and the one it is raised to for some subjects.
	rowRE = regexp.MustCompile("^\\|\\s*`([^`]+)`\\s*\\|\\s*([a-z]+)(?:\\s*\\(([a-z]+) for [^)|]*\\))?\\s*\\|")
	// "`name` (3)", "`name`, 3)", "`name`, 1 GiB" or "`name` (default 0.5)": a parameter with its default.
	paramDefRE = regexp.MustCompile("`([A-Za-z]+)`(?: \\((?:default )?|, (?:default )?)([0-9.]+)(\\)| [KMG]iB)")
)

// catalogFiles are the catalog's files in the repository's testdata (the project's
// catalog), in catalog order, with the section of rows that come
// before any "## " heading.
var catalogFiles = []struct{ name, section string }{
	{"CHECKS.md", ""},
	{"CHECKS-operations.md", checks.SecReported},
}

// readCatalog reads the check ids of the catalog (testdata/CHECKS.md and
// testdata/CHECKS-operations.md at the repository root): the first column of
// each table row, under the section heading the table follows. A severity
// written "warning (critical for ...)" is the check's highest: its default
// severity is that one, lowered for the other subjects.
func readCatalog(t *testing.T) map[string]catalogEntry {
	t.Helper()
	out := map[string]catalogEntry{}
	for _, file := range catalogFiles {
		n := len(out)
		readCatalogFile(t, file.name, file.section, out)
		if len(out)-n < 8 {
			t.Fatalf("read only %d ids from %s: has its table format changed?", len(out)-n, file.name)
		}
	}
	return out
}

func readCatalogFile(t *testing.T, name, section string, out map[string]catalogEntry) {
	t.Helper()
	f, err := os.Open(repoTestdata(name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if h, ok := strings.CutPrefix(line, "## "); ok {
			// "Operations (monitoring, from the built-in metrics)" is the section Operations.
			section, _, _ = strings.Cut(h, " (")
			continue
		}
		m := rowRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		if _, dup := out[m[1]]; dup {
			t.Errorf("%s lists %s twice", name, m[1])
		}
		sev := policy.Severity(m[2])
		if m[3] != "" {
			sev = policy.Severity(m[3])
		}
		out[m[1]] = catalogEntry{order: len(out), section: section, severity: sev, row: line}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
}

func TestCatalogMatchesChecksMD(t *testing.T) {
	catalog := readCatalog(t)
	sections := map[string]bool{checks.SecDevice: true, checks.SecDeployment: true, checks.SecContainers: true,
		checks.SecNetworking: true, checks.SecSolution: true, checks.SecSecurity: true, checks.SecOperations: true, checks.SecManifest: true,
		checks.SecReported: true}
	needs := map[facts.Fact]bool{checks.NeedEngine: true, checks.NeedEngineInventory: true, checks.NeedContainers: true, checks.NeedEdgeAgentStats: true, checks.NeedEdgeHubStats: true,
		checks.NeedCerts: true, checks.NeedProbes: true, checks.NeedManifest: true}
	seen := map[string]bool{}
	last := -1
	for _, c := range checks.All() {
		t.Run(c.ID, func(t *testing.T) {
			if !idRE.MatchString(c.ID) {
				t.Errorf("id %q is not lower-case words joined by '-'", c.ID)
			}
			if seen[c.ID] {
				t.Errorf("id %q is listed twice in All()", c.ID)
			}
			seen[c.ID] = true
			e, ok := catalog[c.ID]
			if !ok {
				t.Fatalf("id %q is not in CHECKS.md: ids are a public contract", c.ID)
			}
			if c.Severity != e.severity {
				t.Errorf("default severity %s, CHECKS.md says %s", c.Severity, e.severity)
			}
			if !sections[c.Section] {
				t.Errorf("section %q is not one of the Sec* constants", c.Section)
			}
			if c.Section != e.section {
				t.Errorf("section %q, CHECKS.md lists it under %q", c.Section, e.section)
			}
			if e.order < last {
				t.Errorf("All() lists %s after a check that CHECKS.md lists after it", c.ID)
			}
			last = e.order
			for field, v := range map[string]string{"Title": c.Title, "Seed": c.Seed, "Decides": c.Decides,
				"Remediation": c.Remediation, "Reference": c.Reference} {
				if strings.TrimSpace(v) == "" {
					t.Errorf("%s is empty", field)
				}
			}
			if u, err := url.Parse(c.Reference); err != nil || u.Scheme != "https" || u.Host == "" {
				t.Errorf("Reference %q is not an https URL", c.Reference)
			}
			for _, n := range c.Needs {
				if !needs[n] {
					t.Errorf("Needs %q is not one of the Need* constants", n)
				}
			}
			if c.Eval == nil {
				t.Error("Eval is nil")
			}
			checkParams(t, c, e.row)
		})
	}
	// And the other way: every id of CHECKS.md is implemented.
	for id := range catalog {
		if !seen[id] {
			t.Errorf("CHECKS.md lists %s but All() does not", id)
		}
	}
}

// checkParams proves every parameter's default has the Go type its kind
// implies, survives a round trip through the policy decoder, is named in the
// check's CHECKS.md row, and equals the default written there as "`name` (value)".
func checkParams(t *testing.T, c *checks.Check, row string) {
	t.Helper()
	documented := map[string]float64{}
	for _, m := range paramDefRE.FindAllStringSubmatch(row, -1) {
		v, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			t.Fatalf("CHECKS.md default %q of %s: %v", m[2], m[1], err)
		}
		switch m[3] {
		case " KiB":
			v *= 1 << 10
		case " MiB":
			v *= 1 << 20
		case " GiB":
			v *= 1 << 30
		}
		documented[m[1]] = v
	}
	names := map[string]bool{}
	for _, p := range c.Params {
		if names[p.Name] {
			t.Errorf("parameter %s declared twice", p.Name)
		}
		names[p.Name] = true
		if p.Doc == "" {
			t.Errorf("parameter %s has no Doc", p.Name)
		}
		if (p.Kind == policy.Int || p.Kind == policy.Number) && p.Max <= 0 {
			t.Errorf("parameter %s has no maximum", p.Name)
		}
		if d, ok := p.Default.(int); ok && p.Max > 0 && float64(d) > p.Max {
			t.Errorf("parameter %s: default %d above its maximum %v", p.Name, d, p.Max)
		}
		if d, ok := p.Default.(float64); ok && p.Max > 0 && d > p.Max {
			t.Errorf("parameter %s: default %v above its maximum %v", p.Name, d, p.Max)
		}
		if !strings.Contains(row, "`"+p.Name+"`") {
			t.Errorf("parameter %s is not named in the CHECKS.md row", p.Name)
		}
		var ok bool
		switch p.Kind {
		case policy.Ratio:
			var f float64
			f, ok = p.Default.(float64)
			ok = ok && f >= 0 && f <= 1
		case policy.Number:
			var f float64
			f, ok = p.Default.(float64)
			ok = ok && f >= 0
		case policy.Int:
			var i int
			i, ok = p.Default.(int)
			ok = ok && i >= 0
		case policy.StringList:
			_, ok = p.Default.([]string)
		case policy.Bool:
			_, ok = p.Default.(bool)
		case policy.DateTable:
			var l []string
			l, ok = p.Default.([]string)
			ok = ok && sort.StringsAreSorted(l)
		}
		if !ok {
			t.Errorf("parameter %s: default %#v (%T) does not fit kind %s", p.Name, p.Default, p.Default, p.Kind)
			continue
		}
		if want, ok := documented[p.Name]; ok {
			if got, w := fmt.Sprint(p.Default), strconv.FormatFloat(want, 'f', -1, 64); got != w {
				t.Errorf("parameter %s: default %s, CHECKS.md says %s", p.Name, got, w)
			}
		}
		// Setting the default explicitly decodes to the same value.
		raw, err := json.Marshal(p.Default)
		if err != nil {
			t.Fatal(err)
		}
		doc := fmt.Sprintf(`{"checks":{%q:{"params":{%q:%s}}}}`, c.ID, p.Name, raw)
		pol, err := policy.Decode([]byte(doc), checks.Specs(checks.All()))
		if err != nil {
			t.Errorf("parameter %s: its default does not decode: %v", p.Name, err)
			continue
		}
		if got := pol.Checks[c.ID].Params[p.Name]; !reflect.DeepEqual(got, p.Default) {
			t.Errorf("parameter %s: decoded %#v (%T), default %#v (%T)", p.Name, got, got, p.Default, p.Default)
		}
	}
	for name := range documented {
		if !names[name] {
			t.Errorf("CHECKS.md gives parameter %s a default but the check does not declare it", name)
		}
	}
}

func TestSpecsFollowAll(t *testing.T) {
	all := checks.All()
	specs := checks.Specs(all)
	if len(specs) != len(all) {
		t.Fatalf("%d specs for %d checks", len(specs), len(all))
	}
	for i, c := range all {
		s := specs[i]
		if s.ID != c.ID || s.Severity != c.Severity || s.Helpful != c.Helpful || !reflect.DeepEqual(s.Params, c.Params) {
			t.Errorf("spec %d = %+v does not match check %s", i, s, c.ID)
		}
	}
	// The default policy has every check at its default severity.
	pol := policy.Default(specs)
	for _, c := range all {
		if got := pol.Checks[c.ID].Severity; got != c.Severity {
			t.Errorf("%s: default policy severity %s, want %s", c.ID, got, c.Severity)
		}
	}
	// All() returns fresh slices over the same definitions.
	if a, b := checks.All(), checks.All(); &a[0] == &b[0] || a[0] != b[0] {
		t.Error("All() should return a new slice of the same checks")
	}
}
