// Package e2e runs the edge-readiness binary against a real Docker engine
// holding a simulated IoT Edge device (internal/testenv), and checks the
// shipped Dockerfiles, module.json and deployment manifest.
//
// Tests that start a device use the fixed container names of IoT Edge
// (edgeAgent, edgeHub): testenv's Device.Start takes turns for them
// (internal/testenv/hostlock), across tests and test processes, so the
// engine tier runs packages side by side. The image builds are slow and
// need no device: TestMain starts them in the background
// (prebuildImages), and the tests that need an image call t.Parallel, so
// that they run last, when the builds are done.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/report"
	"github.com/edge-readiness/edge-readiness/internal/testenv"
)

// binary is the edge-readiness binary TestMain builds.
var binary string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	root, err := repoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "edge-readiness-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "edge-readiness")
	cmd := exec.Command("go", "build", "-o", binary, "./module")
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building the binary:", err)
		return 1
	}
	start := time.Now()
	flag.Parse()
	waitBuilds := func() error { return nil }
	if !testing.Short() {
		waitBuilds = testenv.InBackground(func(t testenv.TB) { prebuildImages(t, root, selected) })
	}
	code := m.Run()
	if err := waitBuilds(); err != nil && code == 0 {
		// A test that needed the image built it itself and said what failed.
		fmt.Fprintln(os.Stderr, "e2e: the background image builds stopped:", err)
	}
	if workloadDir != "" {
		os.RemoveAll(workloadDir)
	}
	if testenv.BuiltAny() {
		// Keep one build's worth of layers, as cache, not every run's.
		if err := testenv.PruneBuilds(start); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: removing earlier builds' images:", err)
		}
	}
	return code
}

// selected tells whether this run of the package runs the top-level test
// name, as go test's -run and -skip select it (their first element, before
// any '/'); a pattern that does not compile selects everything, and go test
// says what is wrong with it.
func selected(name string) bool {
	match := func(flagName string) (matched, set bool) {
		f := flag.Lookup(flagName)
		if f == nil || f.Value.String() == "" {
			return false, false
		}
		first, _, _ := strings.Cut(f.Value.String(), "/")
		ok, err := regexp.MatchString(first, name)
		return ok || err != nil, true
	}
	if m, set := match("test.run"); set && !m {
		return false
	}
	if m, set := match("test.skip"); set && m {
		return false
	}
	return true
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// result is one run of the binary.
type result struct {
	args   []string
	code   int
	stdout []byte
	stderr []byte
}

// run runs the binary with args and the test process's environment, with
// DNS isolated (testenv.HermeticCommand): it reaches the engine and the
// device's containers, nothing beyond.
func run(t *testing.T, args ...string) result {
	t.Helper()
	return runEnv(t, nil, args...)
}

// collect runs cmd and returns its output and exit code; a command that
// could not run, or was killed, fails the test.
func collect(t *testing.T, cmd *exec.Cmd, args []string) result {
	t.Helper()
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	r := result{args: args, stdout: o.Bytes(), stderr: e.Bytes()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.Exited():
		r.code = ee.ExitCode()
	default:
		t.Fatalf("running edge-readiness %s: %v\nstderr:\n%s", strings.Join(args, " "), err, e.Bytes())
	}
	return r
}

// runEnv runs the binary with args; env entries ("K=V") are added to the
// test process's environment ("K=" removes K).
func runEnv(t *testing.T, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := testenv.HermeticCommand(ctx, t, binary, args...)
	cmd.Env = mergeEnv(os.Environ(), env)
	r := collect(t, cmd, args)
	if bytes.Contains(r.stderr, []byte("panic:")) || bytes.Contains(r.stderr, []byte("goroutine ")) {
		t.Fatalf("edge-readiness %s panicked:\n%s", strings.Join(args, " "), r.stderr)
	}
	return r
}

func mergeEnv(base, add []string) []string {
	out := make([]string, 0, len(base)+len(add))
	drop := map[string]bool{}
	for _, kv := range add {
		k, _, _ := strings.Cut(kv, "=")
		drop[k] = true
	}
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if !drop[k] {
			out = append(out, kv)
		}
	}
	for _, kv := range add {
		if !strings.HasSuffix(kv, "=") {
			out = append(out, kv)
		}
	}
	return out
}

// jsonReport decodes the report of a `check --format json` run.
func jsonReport(t *testing.T, r result) *report.Report {
	t.Helper()
	var rep report.Report
	dec := json.NewDecoder(bytes.NewReader(r.stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("edge-readiness %s: stdout is not a report: %v\nstdout:\n%s\nstderr:\n%s",
			strings.Join(r.args, " "), err, r.stdout, r.stderr)
	}
	if rep.SchemaVersion != report.SchemaVersion {
		t.Errorf("schemaVersion = %q, want %q", rep.SchemaVersion, report.SchemaVersion)
	}
	return &rep
}

// writeFile writes a file in the test's temporary directory and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// findings returns the findings of one check, for one module when module
// is not "*".
func findings(rep *report.Report, id, module string) []checks.Finding {
	var out []checks.Finding
	for _, f := range rep.Findings {
		if f.ID == id && (module == "*" || f.Module == module) {
			out = append(out, f)
		}
	}
	return out
}

// one returns the single finding of a check for a module, failing otherwise.
func one(t *testing.T, rep *report.Report, id, module string) checks.Finding {
	t.Helper()
	fs := findings(rep, id, module)
	if len(fs) != 1 {
		t.Fatalf("%d findings for %s/%s, want 1:\n%s", len(fs), id, module, dump(rep))
	}
	return fs[0]
}

// dump renders the findings for failure messages.
func dump(rep *report.Report) string {
	var b strings.Builder
	for _, f := range rep.Findings {
		fmt.Fprintf(&b, "  %-38s %-12s %-8s %-5s %s\n", f.ID, f.Module+f.Subject, f.Severity, f.Status, f.Message)
	}
	return b.String()
}
