package sink

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/edge-readiness/edge-readiness/internal/checks"
)

// JUnit writes each report as JUnit XML, the test-result format CI systems
// read (Azure Pipelines' PublishTestResults, GitHub test reporters, GitLab,
// Jenkins): a test suite per catalog section, a test case per check and
// subject; a failed finding is a <failure> carrying its message and how to
// fix it, an errored one (the facts it needs were missing) an <error>, a
// skipped one <skipped/>. It follows the JUnit schema CI readers accept
// (Jenkins' junit XSD, in internal/sink/testdata).
type JUnit struct{ w io.Writer }

// NewJUnit returns a JUnit sink writing to w.
func NewJUnit(w io.Writer) *JUnit { return &JUnit{w: w} }

var _ Sink = (*JUnit)(nil)

// Name implements Sink.
func (*JUnit) Name() string { return "junit" }

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr"`
	Hostname   string          `xml:"hostname,attr,omitempty"`
	Properties []junitProperty `xml:"properties>property"`
	Cases      []junitCase     `xml:"testcase"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Skipped   *junitMessage `xml:"skipped"`
	Error     *junitMessage `xml:"error"`
	Failure   *junitMessage `xml:"failure"`
}

type junitMessage struct {
	Message string `xml:"message,attr,omitempty"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",chardata"`
}

// Publish writes ev's report; an event without one writes nothing.
func (j *JUnit) Publish(_ context.Context, ev Event) error {
	r := ev.Report
	if r == nil {
		return nil
	}
	doc := junitSuites{Name: "edge-readiness", Time: seconds(r.DurationMs)}
	props := []junitProperty{{"readiness", r.Summary.Status}, {"score", strconv.Itoa(r.Summary.Score)}}
	if r.Summary.Incomplete != "" {
		props = append(props, junitProperty{"incomplete", r.Summary.Incomplete},
			junitProperty{"unresolved", strings.Join(r.Summary.Unresolved, " ")})
	}
	for _, p := range []junitProperty{{"deviceId", r.Device.DeviceID}, {"iotHub", r.Device.IoTHub}, {"policy", r.Policy.Source}} {
		if p.Value != "" {
			props = append(props, p)
		}
	}
	bySection := map[string]int{}
	for i := range r.Findings {
		f := &r.Findings[i]
		si, ok := bySection[f.Section]
		if !ok {
			si = len(doc.Suites)
			bySection[f.Section] = si
			doc.Suites = append(doc.Suites, junitSuite{Name: orEmpty(f.Section, "checks"), Time: "0",
				Timestamp: r.GeneratedAt.UTC().Format("2006-01-02T15:04:05"), Hostname: r.Device.Hostname, Properties: props})
		}
		s := &doc.Suites[si]
		c := junitCase{Name: caseName(f), Classname: "edge-readiness." + f.ID, Time: "0"}
		switch f.Status {
		case checks.Fail:
			c.Failure = &junitMessage{Message: f.Message, Type: string(f.Severity), Text: findingText(f)}
			s.Failures++
		case checks.Error:
			c.Error = &junitMessage{Message: f.Message, Type: "missing facts", Text: findingText(f)}
			s.Errors++
		case checks.Skip:
			c.Skipped = &junitMessage{Message: f.Message}
			s.Skipped++
		}
		s.Tests++
		s.Cases = append(s.Cases, c)
	}
	for _, s := range doc.Suites {
		doc.Tests += s.Tests
		doc.Failures += s.Failures
		doc.Errors += s.Errors
	}
	if _, err := io.WriteString(j.w, xml.Header); err != nil {
		return fmt.Errorf("writing JUnit: %w", err)
	}
	enc := xml.NewEncoder(j.w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("writing JUnit: %w", err)
	}
	_, err := io.WriteString(j.w, "\n")
	return err
}

// caseName names a test case by its check and subject: "image-tags-pinned
// [filter]", "container-engine-moby".
func caseName(f *checks.Finding) string {
	var subj []string
	for _, s := range []string{f.Module, f.Subject} {
		if s != "" {
			subj = append(subj, s)
		}
	}
	if len(subj) == 0 {
		return f.ID
	}
	return f.ID + " [" + strings.Join(subj, " ") + "]"
}

// findingText is the body of a failure or error: the message, how to fix
// it, where to read more, and where in a file it points.
func findingText(f *checks.Finding) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s\n%s\n", f.ID, f.Title, f.Message)
	if f.Location != nil && f.Location.URI != "" {
		fmt.Fprintf(&b, "at: %s", f.Location.URI)
		if f.Location.Line > 0 {
			fmt.Fprintf(&b, ":%d", f.Location.Line)
		}
		b.WriteString("\n")
	}
	if f.Remediation != "" {
		fmt.Fprintf(&b, "how to fix: %s\n", f.Remediation)
	}
	if f.Reference != "" {
		fmt.Fprintf(&b, "see: %s\n", f.Reference)
	}
	return b.String()
}

// seconds writes milliseconds as JUnit's seconds ("1.234").
func seconds(ms int64) string {
	return strconv.FormatFloat(float64(max(ms, 0))/1000, 'f', 3, 64)
}
