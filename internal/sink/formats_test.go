package sink_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/cli"
	"github.com/edge-readiness/edge-readiness/internal/policy"
	"github.com/edge-readiness/edge-readiness/internal/report"
	"github.com/edge-readiness/edge-readiness/internal/sink"
)

// formatReport is the planted device's second cycle (a module exited, a
// secret in its error) plus findings that test the edges: a location in a
// manifest (of checks the catalog does not hold, so described from their
// findings), characters XML and JSON escape, a control character, an
// errored info check.
func formatReport(t *testing.T) *report.Report {
	t.Helper()
	d := newDevice()
	pol := d.defaultPolicy()
	d.runner.Run(context.Background(), pol)
	r := d.runner.Run(context.Background(), pol)
	r.Findings = append(r.Findings,
		checks.Finding{ID: "located-in-manifest", Title: "A finding located in a file", Section: "Deployment manifest",
			Module: "sensor", Severity: policy.Critical, Status: checks.Fail,
			Message:     `sensor's createOptions: unknown key "HostConfir" <& "quoted">` + "\x01\nsecond line",
			Remediation: "Fix the key.", Reference: "https://learn.microsoft.com/azure/iot-edge/how-to-use-create-options",
			Location: &checks.Location{URI: "deployment.template.json", Line: 42}},
		checks.Finding{ID: "located-in-file", Title: "A finding located in a file, no line", Section: "Deployment manifest", Severity: policy.Info,
			Status: checks.Error, Message: "cannot decide without the manifest's routes",
			Location: &checks.Location{URI: "deployment.template.json"}})
	r.Summary = report.Summarize(r.Findings)
	return r
}

// render publishes the report through the publisher to the format's sink,
// as the check command does.
func render(t *testing.T, format string, r *report.Report) []byte {
	t.Helper()
	var out bytes.Buffer
	pub := sink.NewPublisher(nil, sink.Formats[format](&out))
	if err := pub.Publish(context.Background(), sink.Event{Time: r.GeneratedAt, Report: r, Changed: true,
		Rules: cli.Rules(checks.All())}); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TestJUnitValid: --format junit is valid against Jenkins' JUnit schema
// (xmllint), with one test case per check and subject: failures carry
// their message and how to fix them, errors are <error>, skips <skipped/>.
func TestJUnitValid(t *testing.T) {
	r := formatReport(t)
	out := render(t, "junit", r)
	path := filepath.Join(t.TempDir(), "readiness.xml")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	xmllint, err := exec.LookPath("xmllint")
	switch {
	case err != nil && os.Getenv("CI") != "":
		t.Fatal("xmllint is missing (Debian package libxml2-utils, installed by .ci/run)")
	case err != nil:
		t.Log("xmllint is missing (apt-get install libxml2-utils): the schema is not checked")
	default:
		cmd := exec.Command(xmllint, "--noout", "--schema", filepath.Join("testdata", "junit-10.xsd"), path)
		if msg, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("xmllint --schema junit-10.xsd: %v\n%s\n%s", err, msg, out)
		}
	}

	var doc struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Errors   int `xml:"errors,attr"`
		Suites   []struct {
			Name    string `xml:"name,attr"`
			Skipped int    `xml:"skipped,attr"`
			Cases   []struct {
				Name      string `xml:"name,attr"`
				Classname string `xml:"classname,attr"`
				Failure   *struct {
					Message string `xml:"message,attr"`
					Type    string `xml:"type,attr"`
					Text    string `xml:",chardata"`
				} `xml:"failure"`
				Error *struct {
					Message string `xml:"message,attr"`
				} `xml:"error"`
				Skipped *struct {
					Message string `xml:"message,attr"`
				} `xml:"skipped"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(out, &doc); err != nil {
		t.Fatalf("not XML: %v\n%s", err, out)
	}
	c := r.Summary.Counts
	if doc.Tests != c.Total || doc.Failures != c.Fail || doc.Errors != c.Error {
		t.Errorf("tests %d failures %d errors %d, want %d %d %d", doc.Tests, doc.Failures, doc.Errors, c.Total, c.Fail, c.Error)
	}
	skipped, cases := 0, map[string]bool{}
	for _, s := range doc.Suites {
		skipped += s.Skipped
		for _, tc := range s.Cases {
			if cases[tc.Classname+"|"+tc.Name] {
				t.Errorf("test case %s %s appears twice", tc.Classname, tc.Name)
			}
			cases[tc.Classname+"|"+tc.Name] = true
			if tc.Skipped != nil && tc.Skipped.Message == "" {
				t.Errorf("%s: a skip without its reason", tc.Name)
			}
		}
	}
	if skipped != c.Skip || len(cases) != c.Total {
		t.Errorf("%d skipped, %d cases; want %d, %d", skipped, len(cases), c.Skip, c.Total)
	}
	found := false
	for _, s := range doc.Suites {
		for _, tc := range s.Cases {
			if tc.Name != "located-in-manifest [sensor]" {
				continue
			}
			found = true
			f := tc.Failure
			if f == nil || f.Type != "critical" || !strings.Contains(f.Message, `"HostConfir" <& "quoted">`) ||
				!strings.Contains(f.Text, "how to fix: Fix the key.") || !strings.Contains(f.Text, "at: deployment.template.json:42") {
				t.Errorf("located-in-manifest [sensor]: %+v", f)
			}
		}
	}
	if !found {
		t.Errorf("no test case located-in-manifest [sensor]:\n%s", out)
	}
}

// TestSARIFValid: --format sarif is valid against the official SARIF 2.1.0
// schema, with one rule per check (help: how it decides and how to fix it;
// helpUri: its reference), and a result per failed or errored finding at
// the level of its severity, located in a file when the finding knows one
// and at its module otherwise.
func TestSARIFValid(t *testing.T) {
	r := formatReport(t)
	out := render(t, "sarif", r)

	c := jsonschema.NewCompiler()
	sch, err := c.Compile(filepath.Join("testdata", "sarif-schema-2.1.0.json"))
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if err := sch.Validate(inst); err != nil {
		t.Errorf("not valid SARIF 2.1.0: %v", err)
	}

	var log struct {
		Schema  string `json:"$schema"`
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Name  string `json:"name"`
					Rules []struct {
						ID   string `json:"id"`
						Help struct {
							Text string `json:"text"`
						} `json:"help"`
						HelpURI string `json:"helpUri"`
					} `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Results []struct {
				RuleID    string `json:"ruleId"`
				RuleIndex int    `json:"ruleIndex"`
				Level     string `json:"level"`
				Message   struct {
					Text string `json:"text"`
				} `json:"message"`
				Locations []struct {
					PhysicalLocation *struct {
						ArtifactLocation struct {
							URI string `json:"uri"`
						} `json:"artifactLocation"`
						Region *struct {
							StartLine int `json:"startLine"`
						} `json:"region"`
					} `json:"physicalLocation"`
					LogicalLocations []struct {
						Name string `json:"name"`
					} `json:"logicalLocations"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(out, &log); err != nil {
		t.Fatal(err)
	}
	if log.Version != "2.1.0" || log.Schema != sink.SARIFSchema || len(log.Runs) != 1 {
		t.Fatalf("version %q, schema %q, %d runs", log.Version, log.Schema, len(log.Runs))
	}
	run := log.Runs[0]
	rules := run.Tool.Driver.Rules
	var ids []string
	for _, ru := range rules {
		ids = append(ids, ru.ID)
	}
	for _, ch := range checks.All() {
		i := slices.Index(ids, ch.ID)
		if i < 0 {
			t.Errorf("no rule for %s", ch.ID)
			continue
		}
		if h := rules[i].Help.Text; !strings.Contains(h, ch.Decides) || !strings.Contains(h, ch.Remediation) || rules[i].HelpURI != ch.Reference {
			t.Errorf("rule %s: help %q, helpUri %q", ch.ID, h, rules[i].HelpURI)
		}
	}
	want := 0
	for _, f := range r.Findings {
		if f.Status == checks.Fail || f.Status == checks.Error {
			want++
		}
	}
	if len(run.Results) != want {
		t.Errorf("%d results, want %d (failed and errored findings)", len(run.Results), want)
	}
	levels := map[string]bool{}
	for _, res := range run.Results {
		levels[res.Level] = true
		if res.RuleIndex < 0 || res.RuleIndex >= len(rules) || rules[res.RuleIndex].ID != res.RuleID {
			t.Errorf("result %s: ruleIndex %d does not name its rule", res.RuleID, res.RuleIndex)
		}
		switch res.RuleID {
		case "located-in-manifest":
			l := res.Locations
			if res.Level != "error" || len(l) != 1 || l[0].PhysicalLocation == nil || l[0].PhysicalLocation.ArtifactLocation.URI != "deployment.template.json" ||
				l[0].PhysicalLocation.Region == nil || l[0].PhysicalLocation.Region.StartLine != 42 ||
				len(l[0].LogicalLocations) != 1 || l[0].LogicalLocations[0].Name != "sensor" {
				t.Errorf("located-in-manifest: level %s, locations %+v", res.Level, l)
			}
		case "located-in-file":
			if l := res.Locations; res.Level != "note" || len(l) != 1 || l[0].PhysicalLocation == nil || l[0].PhysicalLocation.Region != nil {
				t.Errorf("located-in-file: level %s, locations %+v", res.Level, l)
			}
		case "modules-running":
			if l := res.Locations; res.Level != "error" || len(l) != 1 || l[0].PhysicalLocation != nil || l[0].LogicalLocations[0].Name != "sensor" {
				t.Errorf("modules-running: level %s, locations %+v", res.Level, l)
			}
		}
	}
	if !levels["error"] || !levels["warning"] || !levels["note"] {
		t.Errorf("levels %v, want error, warning and note among the results", levels)
	}
}

// TestFormatsRegistered: every --format name renders the report and
// nothing for an event without one.
func TestFormatsRegistered(t *testing.T) {
	if got := strings.Join(sink.FormatNames(), ","); got != "html,json,junit,sarif,table" {
		t.Errorf("formats = %s", got)
	}
	for _, name := range sink.FormatNames() {
		var b bytes.Buffer
		s := sink.Formats[name](&b)
		if s.Name() != name {
			t.Errorf("%s: Name() = %s", name, s.Name())
		}
		if err := s.Publish(context.Background(), sink.Event{Time: time.Now()}); err != nil || b.Len() != 0 {
			t.Errorf("%s: an event without a report: %v, wrote %q", name, err, b.String())
		}
	}
}
