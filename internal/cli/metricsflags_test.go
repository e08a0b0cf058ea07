package cli_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/edge-readiness/edge-readiness/internal/cli"
)

// TestMetricsFlagsRefuseCredentials: a metrics URL is reported, so a user or
// password in it is a usage error, said without echoing the value.
func TestMetricsFlagsRefuseCredentials(t *testing.T) {
	const password = "Fl4gPassw0rd"
	for _, cmd := range []string{"check", "run"} {
		for _, tc := range []struct{ flag, value string }{
			{"--edgehub-metrics", "http://scraper:" + password + "@edgeHub:9600/metrics"},
			{"--edgeagent-metrics", "https://" + password + "@edgeAgent:9600/metrics"},
			{"--edgehub-metrics", "scraper:" + password + "@edgeHub:9600"}, // no scheme: not a URL, still credentials
		} {
			var stdout, stderr bytes.Buffer
			code := cli.Main(context.Background(), cli.Env{Args: []string{cmd, tc.flag, tc.value,
				"--docker-host", "unix:///nonexistent/docker.sock", "--no-probes", "--timeout", "5s"},
				Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }, Environ: func() []string { return nil }})
			want := cmd + ": " + tc.flag + " must not carry a user or password"
			if code != cli.ExitUsage || !strings.Contains(stderr.String(), want) {
				t.Errorf("%s %s %s: exit %d, stderr %q; want %d and %q", cmd, tc.flag, tc.value, code, stderr.String(), cli.ExitUsage, want)
			}
			if strings.Contains(stdout.String()+stderr.String(), password) {
				t.Errorf("%s %s: the password was echoed", cmd, tc.flag)
			}
		}
	}
	// An "@" in the path or query is no credential.
	var stderr bytes.Buffer
	code := cli.Main(context.Background(), cli.Env{Args: []string{"check", "--edgehub-metrics", "http://127.0.0.1:1/metrics?owner=ops@contoso",
		"--docker-host", "unix:///nonexistent/docker.sock", "--no-probes", "--timeout", "5s"},
		Stdout: &bytes.Buffer{}, Stderr: &stderr, Getenv: func(string) string { return "" }, Environ: func() []string { return nil }})
	if code == cli.ExitUsage {
		t.Errorf("a URL with an @ in its query was refused: %s", stderr.String())
	}
}
