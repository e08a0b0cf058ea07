package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/edge-readiness/edge-readiness/internal/bundle"
	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/cycle"
	"github.com/edge-readiness/edge-readiness/internal/facts"
	"github.com/edge-readiness/edge-readiness/internal/manifest"
	"github.com/edge-readiness/edge-readiness/internal/redact"
)

const rulesUsage = `usage: edge-readiness rules test FILE...

Each FILE is a rule test (JSON): a policy, one input (a saved snapshot, a
deployment manifest or a support bundle) and the expected status of each
rule for each subject (a module's name, or "device"; "*" for every subject
not named). Paths are relative to the test file; a manifest's variables
resolve from envFile only, never the environment. It prints what differs
and exits 1 on any difference, 2 when a test cannot be run.

  {"policy": "approved-registry.policy.json",
   "manifest": "deployment.json", "envFile": "", "modulesDir": "",
   "expect": {"approved-registry": {"filter": "pass", "tempSensor": "fail", "*": "pass"}}}
`

// maxRuleTest bounds a test file.
const maxRuleTest = 1 << 20

// ruleTest is one test file.
type ruleTest struct {
	Policy        string                       `json:"policy"`
	Snapshot      string                       `json:"snapshot,omitempty"`
	Manifest      string                       `json:"manifest,omitempty"`
	EnvFile       string                       `json:"envFile,omitempty"`
	ModulesDir    string                       `json:"modulesDir,omitempty"`
	SupportBundle string                       `json:"supportBundle,omitempty"`
	Expect        map[string]map[string]string `json:"expect"`
}

func rulesCmd(ctx context.Context, env Env, args []string) int {
	if len(args) == 0 || args[0] != "test" {
		fmt.Fprint(env.Stderr, rulesUsage)
		return ExitUsage
	}
	fs := flag.NewFlagSet("rules test", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() { fmt.Fprint(env.Stderr, rulesUsage) }
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return ExitUsage
	}
	if fs.NArg() == 0 {
		fmt.Fprint(env.Stderr, rulesUsage)
		return ExitUsage
	}
	code, failed := ExitOK, 0
	for _, path := range fs.Args() {
		diffs, n, err := runRuleTest(ctx, path)
		switch {
		case err != nil:
			fmt.Fprintf(env.Stdout, "%s: ERROR %v\n", path, err)
			code = ExitUsage
		case len(diffs) > 0:
			failed++
			fmt.Fprintf(env.Stdout, "%s: FAIL\n", path)
			for _, d := range diffs {
				fmt.Fprintf(env.Stdout, "    %s\n", d)
			}
			if code == ExitOK {
				code = ExitNotReady
			}
		default:
			fmt.Fprintf(env.Stdout, "%s: ok (%d results)\n", path, n)
		}
	}
	fmt.Fprintf(env.Stdout, "%d test file(s), %d failed\n", fs.NArg(), failed)
	return code
}

// runRuleTest runs one test file: the differences, and how many results matched.
func runRuleTest(ctx context.Context, path string) ([]string, int, error) {
	t, err := readRuleTest(path)
	if err != nil {
		return nil, 0, err
	}
	dir := filepath.Dir(path)
	rel := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	data, err := readFileAtMost(rel(t.Policy), 4<<20)
	if err != nil {
		return nil, 0, fmt.Errorf("reading the policy: %w", err)
	}
	pol, err := decodePolicy(data, checks.Specs(checks.All()))
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", t.Policy, err)
	}
	pol.Source = "file"
	var g cycle.Gatherer
	switch {
	case t.Snapshot != "":
		g, err = facts.OpenSnapshotFile(rel(t.Snapshot))
	case t.SupportBundle != "":
		g, err = bundle.OpenSupportBundle(rel(t.SupportBundle))
	default:
		// Only the envFile resolves variables, never the environment: a test
		// gives the same result wherever it runs.
		var vars manifest.Vars
		if vars, err = manifest.LoadVars(rel(t.EnvFile), nil); err == nil {
			g, err = manifest.Open(rel(t.Manifest), manifest.Options{Vars: vars, ModulesDir: rel(t.ModulesDir), Platform: manifest.DefaultPlatform})
		}
	}
	if err != nil {
		return nil, 0, err
	}
	r := (&cycle.Runner{Gatherer: g, Checks: checks.All(), Scrubber: redact.NewScrubber(), Self: "readiness"}).Run(ctx, pol)
	got := map[string]map[string]checks.Finding{}
	for _, f := range r.Findings {
		if _, want := t.Expect[f.ID]; !want {
			continue
		}
		if got[f.ID] == nil {
			got[f.ID] = map[string]checks.Finding{}
		}
		got[f.ID][subjectKey(f)] = f
	}
	var diffs []string
	n := 0
	for _, id := range sortedMapKeys(t.Expect) {
		want := t.Expect[id]
		if got[id] == nil {
			diffs = append(diffs, fmt.Sprintf("%s: no finding: the policy has no rule or check of that id", id))
			continue
		}
		for _, subj := range sortedMapKeys(want) {
			if subj == "*" {
				continue
			}
			f, ok := got[id][subj]
			if !ok {
				diffs = append(diffs, fmt.Sprintf("%s [%s]: want %s, got no finding for that subject", id, subj, want[subj]))
				continue
			}
			if string(f.Status) != want[subj] {
				diffs = append(diffs, fmt.Sprintf("%s [%s]: want %s, got %s: %s", id, subj, want[subj], f.Status, f.Message))
				continue
			}
			n++
		}
		for _, subj := range sortedMapKeys(got[id]) {
			if _, named := want[subj]; named {
				continue
			}
			f := got[id][subj]
			def, ok := want["*"]
			switch {
			case !ok:
				diffs = append(diffs, fmt.Sprintf("%s [%s]: not expected, got %s: %s (name the subject or give \"*\")", id, subj, f.Status, f.Message))
			case string(f.Status) != def:
				diffs = append(diffs, fmt.Sprintf("%s [%s]: want %s (\"*\"), got %s: %s", id, subj, def, f.Status, f.Message))
			default:
				n++
			}
		}
	}
	return diffs, n, nil
}

// subjectKey names a finding's subject as a test names it.
func subjectKey(f checks.Finding) string {
	switch {
	case f.Module != "" && f.Subject != "":
		return f.Module + "/" + f.Subject
	case f.Module != "":
		return f.Module
	case f.Subject != "":
		return f.Subject
	}
	return "device"
}

var ruleStatuses = []string{string(checks.Pass), string(checks.Fail), string(checks.Skip), string(checks.Error)}

func readRuleTest(path string) (*ruleTest, error) {
	data, err := readFileAtMost(path, maxRuleTest)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var t ruleTest
	if err := dec.Decode(&t); err != nil {
		return nil, fmt.Errorf("not a rule test: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("not a rule test: trailing data after the document")
	}
	var problems []string
	inputs := 0
	for _, in := range []string{t.Snapshot, t.Manifest, t.SupportBundle} {
		if in != "" {
			inputs++
		}
	}
	if t.Policy == "" {
		problems = append(problems, "policy: is required")
	}
	if inputs != 1 {
		problems = append(problems, "give exactly one of snapshot, manifest, supportBundle")
	}
	if (t.EnvFile != "" || t.ModulesDir != "") && t.Manifest == "" {
		problems = append(problems, "envFile and modulesDir go with manifest")
	}
	if len(t.Expect) == 0 {
		problems = append(problems, "expect: name at least one rule")
	}
	for _, id := range sortedMapKeys(t.Expect) {
		for _, subj := range sortedMapKeys(t.Expect[id]) {
			if !slices.Contains(ruleStatuses, t.Expect[id][subj]) {
				problems = append(problems, fmt.Sprintf("expect.%s.%s: must be one of %s, got %q", id, subj, strings.Join(ruleStatuses, ", "), t.Expect[id][subj]))
			}
		}
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "; "))
	}
	return &t, nil
}

// readFileAtMost reads a file of at most max bytes.
func readFileAtMost(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, max)
	}
	return data, nil
}

func sortedMapKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
