package e2e

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/report"
	"github.com/edge-readiness/edge-readiness/internal/testenv"
)

// TestMissingDockerSocket runs check with an engine address where nothing
// listens: no panic, every check that needs the engine errors saying what to
// mount or start, the others still run.
func TestMissingDockerSocket(t *testing.T) {
	needsDocker := map[string]bool{}
	for _, c := range checks.All() {
		for _, n := range c.Needs {
			if n == checks.NeedContainers || n == checks.NeedEngine {
				needsDocker[c.ID] = true
			}
		}
	}
	const host = "unix:///nonexistent/docker.sock"
	assertDockerErrors := func(t *testing.T, rep *report.Report) {
		t.Helper()
		for _, f := range rep.Findings {
			if !needsDocker[f.ID] {
				continue
			}
			if f.Status != checks.Error {
				t.Errorf("%s/%s: status %s (%s), want error", f.ID, f.Module, f.Status, f.Message)
			}
			for _, s := range []string{"/nonexistent/docker.sock", "mount the engine socket",
				"/var/run/docker.sock:/var/run/docker.sock:ro", "start the engine"} {
				if !strings.Contains(f.Message, s) {
					t.Errorf("%s: message %q does not say %q", f.ID, f.Message, s)
				}
			}
		}
		if len(rep.Inventory.SourceErrors) == 0 || !strings.Contains(rep.Inventory.SourceErrors[0], "docker:") {
			t.Errorf("inventory.sourceErrors = %v, want the Docker error first", rep.Inventory.SourceErrors)
		}
	}

	t.Run("default metrics endpoints", func(t *testing.T) {
		r := runEnv(t, []string{"DOCKER_HOST="}, "check", "--docker-host", host, "--format", "json")
		rep := jsonReport(t, r)
		if r.code != 1 || rep.Summary.Status != report.NotReady {
			t.Errorf("exit code %d, status %s; want 1, notReady", r.code, rep.Summary.Status)
		}
		assertDockerErrors(t, rep)
		// metrics-endpoints needs no engine: it runs, and fails since the
		// names do not resolve here and no container address is known.
		for _, name := range []string{"edgeHub", "edgeAgent"} {
			f := one(t, rep, "metrics-endpoints", name)
			if f.Status != checks.Fail || !strings.Contains(f.Message, "metrics cannot be read") ||
				!strings.Contains(f.Message, "the Docker engine did not answer") {
				t.Errorf("metrics-endpoints/%s: %s (%s), want a failure saying why", name, f.Status, f.Message)
			}
		}
		// disk-space needs edgeAgent's metrics, not the engine.
		f := one(t, rep, "disk-space", "")
		if f.Status != checks.Error || !strings.Contains(f.Message, "edgeAgent metrics") || strings.Contains(f.Message, "docker.sock") {
			t.Errorf("disk-space: %s (%s), want an error about edgeAgent's metrics", f.Status, f.Message)
		}
	})

	t.Run("metrics served", func(t *testing.T) {
		pages := map[string][]byte{
			"/hub":   testenv.EdgeHubMetrics(t),
			"/agent": testenv.EdgeAgentMetrics(t, testenv.AgentMetrics{Modules: []string{"edgeAgent", "edgeHub"}}),
		}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, ok := pages[r.URL.Path]
			if !ok {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "text/plain; version=0.0.4")
			_, _ = w.Write(p)
		}))
		defer srv.Close()
		r := runEnv(t, []string{"DOCKER_HOST="}, "check", "--docker-host", host, "--format", "json",
			"--edgehub-metrics", srv.URL+"/hub", "--edgeagent-metrics", srv.URL+"/agent")
		rep := jsonReport(t, r)
		if r.code != 1 {
			t.Errorf("exit code %d, want 1", r.code)
		}
		assertDockerErrors(t, rep)
		// The checks that need only the metrics decide; the others that do
		// not need the engine run and say what they lack, never the socket.
		for _, c := range checks.All() {
			if needsDocker[c.ID] {
				continue
			}
			metricsOnly := len(c.Needs) > 0 || c.ID == "metrics-endpoints"
			for _, n := range c.Needs {
				metricsOnly = metricsOnly && strings.HasPrefix(string(n), "metrics:")
			}
			for _, f := range findings(rep, c.ID, "*") {
				switch {
				case metricsOnly && f.Status == checks.Skip && undecided[f.ID].status == checks.Skip:
					// a first cycle cannot decide it; the message says why (see undecided)
				case metricsOnly && f.Status != checks.Pass:
					t.Errorf("%s/%s%s: %s (%s), want pass from the metrics alone", f.ID, f.Module, f.Subject, f.Status, f.Message)
				case strings.Contains(f.Message, "docker.sock"):
					t.Errorf("%s/%s%s: %s (%s), want a verdict that does not hang on the engine", f.ID, f.Module, f.Subject, f.Status, f.Message)
				}
			}
		}
		if f := one(t, rep, "metrics-endpoints", "edgeHub"); f.Evidence["endpoint"] != srv.URL+"/hub" {
			t.Errorf("metrics-endpoints/edgeHub endpoint = %v, want %s", f.Evidence["endpoint"], srv.URL+"/hub")
		}
	})
}

// TestBadPolicies runs check with each testdata/bad-policy-*.json: exit code 2,
// nothing on stdout, and stderr naming the path of the problem.
func TestBadPolicies(t *testing.T) {
	expect := map[string]string{
		"bad-policy-ratio.json":                    "checks.disk-space.params.criticalFreeRatio: must be between 0 and 1, got 2",
		"bad-policy-unknown-check.json":            "checks.no-such-check: unknown check id",
		"bad-policy-unknown-key.json":              "intervall: unknown key",
		"bad-policy-unknown-param.json":            "checks.modules-running.params.maxRestarts: unknown parameter (known: maxRestartsPerHour)",
		"bad-policy-exemption-without-reason.json": "exemptions.socket.reason: is required",
		"bad-policy-not-json.json":                 "not valid JSON",
	}
	files, err := filepath.Glob(filepath.Join("testdata", "bad-policy-*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(expect) {
		t.Errorf("%d bad policies in testdata, %d expected errors: keep them in step", len(files), len(expect))
	}
	for _, file := range files {
		name := filepath.Base(file)
		t.Run(name, func(t *testing.T) {
			want, ok := expect[name]
			if !ok {
				t.Fatalf("no expected error for %s", name)
			}
			abs, err := filepath.Abs(file)
			if err != nil {
				t.Fatal(err)
			}
			r := runEnv(t, []string{"DOCKER_HOST="}, "check", "--format", "json", "--policy", abs,
				"--docker-host", "unix:///nonexistent/docker.sock")
			if r.code != 2 {
				t.Errorf("exit code %d, want 2", r.code)
			}
			if len(r.stdout) != 0 {
				t.Errorf("stdout is not empty:\n%s", r.stdout)
			}
			if !strings.Contains(string(r.stderr), want) {
				t.Errorf("stderr does not say %q:\n%s", want, r.stderr)
			}
			if !strings.Contains(string(r.stderr), name) {
				t.Errorf("stderr does not name the file %s:\n%s", name, r.stderr)
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "nope.json")
		r := runEnv(t, []string{"DOCKER_HOST="}, "check", "--policy", missing, "--docker-host", "unix:///nonexistent/docker.sock")
		if r.code != 2 || !strings.Contains(string(r.stderr), "nope.json") {
			t.Errorf("exit code %d, stderr %q; want 2 and the file named", r.code, r.stderr)
		}
	})
}
