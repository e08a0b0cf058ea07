package checks_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/facts"
	"github.com/edge-readiness/edge-readiness/internal/policy"
)

// snapTime is the time of the snapshots in testdata/snapshots.
var snapTime = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// repoTestdata names a file of the repository's top-level testdata folder,
// which holds the data several packages share (provenance in
// testdata/SOURCES.md).
func repoTestdata(elem ...string) string {
	return filepath.Join(append([]string{"..", "..", "testdata"}, elem...)...)
}

// realFixture names a file of real text in testdata/real.
func realFixture(name string) string { return repoTestdata("real", name) }

// loadSnapshot reads a snapshot from testdata/snapshots, strictly: a field
// the model does not know is a mistake in the test data.
func loadSnapshot(tb testing.TB, name string) *facts.Snapshot {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "snapshots", name))
	if err != nil {
		tb.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var s facts.Snapshot
	if err := dec.Decode(&s); err != nil {
		tb.Fatalf("decoding %s: %v", name, err)
	}
	return &s
}

func goodDevice(tb testing.TB) *facts.Snapshot { return loadSnapshot(tb, "good-device.json") }

// decodePolicy decodes a policy document against the real catalog; "" is the default policy.
func decodePolicy(tb testing.TB, doc string) *policy.Policy {
	tb.Helper()
	if doc == "" {
		return policy.Default(checks.Specs(checks.All()))
	}
	p, err := policy.Decode([]byte(doc), checks.Specs(checks.All()))
	if err != nil {
		tb.Fatalf("policy %s: %v", doc, err)
	}
	return p
}

// runAll runs the whole catalog through the runner.
func runAll(s *facts.Snapshot, pol *policy.Policy) []checks.Finding {
	return checks.Run(checks.All(), checks.Input{Snap: s, Self: "edgeReadiness"}, pol)
}

func byID(fs []checks.Finding, id string) []checks.Finding {
	var out []checks.Finding
	for _, f := range fs {
		if f.ID == id {
			out = append(out, f)
		}
	}
	return out
}

// want is one expected finding of the check under test.
type want struct {
	module   string
	subject  string
	status   checks.Status
	msg      string          // a substring of the message
	severity policy.Severity // "" = not checked
}

// checkCase mutates the good device (and optionally sets a policy) and
// lists the findings expected of one check. Every finding of that check the
// case does not list must pass: a case breaks exactly one thing.
type checkCase struct {
	name   string
	mutate func(*facts.Snapshot)
	policy string
	want   []want
}

func runCases(t *testing.T, id string, cases []checkCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := goodDevice(t)
			if tc.mutate != nil {
				tc.mutate(s)
			}
			got := byID(runAll(s, decodePolicy(t, tc.policy)), id)
			if len(got) == 0 {
				t.Fatalf("no %s finding at all", id)
			}
			expectFindings(t, got, tc.want)
		})
	}
}

func expectFindings(t *testing.T, got []checks.Finding, wants []want) {
	t.Helper()
	if len(wants) == 0 {
		t.Fatal("a case must expect at least one finding")
	}
	used := make([]bool, len(got))
	for _, w := range wants {
		if w.msg == "" {
			t.Fatalf("want for %q has no message substring", w.module)
		}
		i := -1
		for j, f := range got {
			if !used[j] && f.Module == w.module && f.Subject == w.subject {
				i = j
				break
			}
		}
		if i < 0 {
			t.Errorf("no finding for module %q subject %q; got:\n%s", w.module, w.subject, dump(got))
			continue
		}
		used[i] = true
		f := got[i]
		if f.Status != w.status {
			t.Errorf("%s %q: status %s, want %s (message %q)", f.ID, f.Module+f.Subject, f.Status, w.status, f.Message)
		}
		if !strings.Contains(f.Message, w.msg) {
			t.Errorf("%s %q: message %q does not contain %q", f.ID, f.Module+f.Subject, f.Message, w.msg)
		}
		if w.severity != "" && f.Severity != w.severity {
			t.Errorf("%s %q: severity %s, want %s", f.ID, f.Module+f.Subject, f.Severity, w.severity)
		}
	}
	for j, f := range got {
		if !used[j] && f.Status != checks.Pass {
			t.Errorf("unexpected finding %s module %q subject %q: %s: %s", f.ID, f.Module, f.Subject, f.Status, f.Message)
		}
	}
}

func dump(fs []checks.Finding) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "  %s module=%q subject=%q %s [%s]: %s\n", f.ID, f.Module, f.Subject, f.Status, f.Severity, f.Message)
	}
	return b.String()
}

// mod returns a module container of the snapshot; the test data must have it.
func mod(s *facts.Snapshot, name string) *facts.Container {
	c := s.Module(name)
	if c == nil {
		panic("test snapshot has no module " + name)
	}
	return c
}

// removeContainer drops a container from the snapshot.
func removeContainer(s *facts.Snapshot, name string) {
	out := s.Containers[:0]
	for _, c := range s.Containers {
		if c.Name != name {
			out = append(out, c)
		}
	}
	s.Containers = out
}

// setImage sets the image as the deployment names it and as the container was created.
func setImage(c *facts.Container, img string) {
	c.Image = img
	c.Labels[facts.OriginalImageLabel] = img
}

func setEnv(c *facts.Container, k, v string) {
	if c.Env == nil {
		c.Env = map[string]string{}
	}
	c.Env[k] = v
}

// removeSamples drops the samples of an endpoint with the given name.
func removeSamples(s *facts.Snapshot, endpoint, name string) {
	sc := s.Metrics[endpoint]
	out := sc.Samples[:0]
	for _, smp := range sc.Samples {
		if smp.Name != name {
			out = append(out, smp)
		}
	}
	sc.Samples = out
}

// setSample sets the value of the samples with the given name (all of them).
func setSample(s *facts.Snapshot, endpoint, name string, v float64) {
	for i, smp := range s.Metrics[endpoint].Samples {
		if smp.Name == name {
			s.Metrics[endpoint].Samples[i].Value = v
		}
	}
}

func addSample(s *facts.Snapshot, endpoint, name string, labels map[string]string, v float64) {
	sc := s.Metrics[endpoint]
	sc.Samples = append(sc.Samples, facts.Sample{Name: name, Labels: labels, Value: v})
}

const (
	gib = int64(1) << 30
	mib = int64(1) << 20
)

// cycleCase is a case of a check that compares cycles: earlier mutate the
// good device for the earlier cycles, oldest first, every apart (5 minutes by
// default); the last of them is Prev. now mutates the current cycle.
type cycleCase struct {
	name    string
	earlier []func(*facts.Snapshot)
	every   time.Duration
	now     func(*facts.Snapshot)
	policy  string
	want    []want
}

func cycleInput(tb testing.TB, tc cycleCase) checks.Input {
	tb.Helper()
	every := tc.every
	if every == 0 {
		every = 5 * time.Minute
	}
	n := len(tc.earlier)
	var hist []*facts.Snapshot
	for i, f := range tc.earlier {
		s := goodDevice(tb)
		s.Time = snapTime.Add(-time.Duration(n-i) * every)
		for _, sc := range s.Metrics {
			sc.Time = s.Time
		}
		if f != nil {
			f(s)
		}
		hist = append(hist, s)
	}
	cur := goodDevice(tb)
	if tc.now != nil {
		tc.now(cur)
	}
	in := checks.Input{Snap: cur, History: hist, Self: "edgeReadiness"}
	if n > 0 {
		in.Prev = hist[n-1]
	}
	return in
}

func runCycles(t *testing.T, id string, cases []cycleCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := byID(checks.Run(checks.All(), cycleInput(t, tc), decodePolicy(t, tc.policy)), id)
			if len(got) == 0 {
				t.Fatalf("no %s finding at all", id)
			}
			expectFindings(t, got, tc.want)
		})
	}
}

// counter adds samples of a counter: pairs of labels and values.
func counter(endpoint, name string, series ...any) func(*facts.Snapshot) {
	return func(s *facts.Snapshot) {
		for i := 0; i < len(series); i += 2 {
			l := map[string]string{}
			for k, v := range series[i].(map[string]string) {
				l[k] = v
			}
			addSample(s, endpoint, name, l, series[i+1].(float64))
		}
	}
}

func all(fs ...func(*facts.Snapshot)) func(*facts.Snapshot) {
	return func(s *facts.Snapshot) {
		for _, f := range fs {
			f(s)
		}
	}
}

// Process instances: a new instance_number means the process restarted.
const (
	instA = "7a1c9e2f-0b3d-4e5f-8a6b-1c2d3e4f5a6b"
	instB = "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a"
)

func dropped(inst, reason string, v float64) func(*facts.Snapshot) {
	return counter(facts.EdgeHub, "edgehub_messages_dropped_total",
		map[string]string{"from": "edge-01/filter", "from_route_output": "out1", "reason": reason, "instance_number": inst}, v)
}
