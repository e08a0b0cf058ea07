package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edge-readiness/edge-readiness/internal/cli"
	"github.com/edge-readiness/edge-readiness/internal/report"
	"github.com/edge-readiness/edge-readiness/internal/testenv/bundlezip"
)

// gatewayBundle zips the simulated gateway's support bundle of
// internal/bundle/testdata into a file.
func gatewayBundle(t *testing.T, drop func(name string) bool) string {
	t.Helper()
	files, err := bundlezip.Tree(filepath.Join("..", "bundle", "testdata", "bundles", "gateway"))
	if err != nil {
		t.Fatal(err)
	}
	var keep []bundlezip.File
	for _, f := range files {
		if drop == nil || !drop(f.Name) {
			keep = append(keep, f)
		}
	}
	data, err := bundlezip.Bytes(keep)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "support_bundle_2026_11_29_19_48_25_UTC.zip")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func runCheck(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := cli.Main(context.Background(), cli.Env{Args: append([]string{"check", "--docker-host", "unix:///nonexistent/docker.sock",
		"--timeout", "10s"}, args...), Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" },
		Environ: func() []string { return nil }})
	return code, stdout.String(), stderr.String()
}

// TestCheckSupportBundle: check --support-bundle runs the checks on the
// bundle (exit 1: the gateway is not ready), in every format; a file that
// is no bundle, or a bundle with a saved snapshot, is a usage error (2).
func TestCheckSupportBundle(t *testing.T) {
	path := gatewayBundle(t, nil)
	code, out, errs := runCheck(t, "--support-bundle", path, "--format", "json")
	var rep report.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("exit %d, not a report: %v\n%s\n%s", code, err, out, errs)
	}
	if code != cli.ExitNotReady || rep.Summary.Status != report.NotReady || rep.Device.DeviceID != "gateway-01" || len(rep.Inventory.Modules) != 5 {
		t.Errorf("exit %d, status %s, device %q, %d modules", code, rep.Summary.Status, rep.Device.DeviceID, len(rep.Inventory.Modules))
	}
	if strings.Contains(out+errs, "nonexistent") {
		t.Errorf("a run on a bundle touched the engine:\n%s\n%s", out, errs)
	}
	// opcPublisher's env holds a connection string: no output carries its
	// key, nor does a snapshot saved from the bundle.
	const key = "c2VjcmV0LWtleS1ub3QtcmVhbC0wMTIzNDU2Nzg5"
	saved := filepath.Join(t.TempDir(), "gateway.snapshot.json")
	for _, f := range []string{"table", "json", "junit", "sarif", "html"} {
		code, out, errs := runCheck(t, "--support-bundle", path, "--format", f, "--save-snapshot", saved)
		if code != cli.ExitNotReady || out == "" {
			t.Errorf("--format %s: exit %d\n%s", f, code, errs)
		}
		b, err := os.ReadFile(saved)
		if err != nil || !strings.Contains(string(b), "opcPublisher") {
			t.Errorf("--save-snapshot from a bundle: %v", err)
		}
		if strings.Contains(out+errs+string(b), key) {
			t.Errorf("--format %s: the output or the saved snapshot carries opcPublisher's SharedAccessKey", f)
		}
	}

	// No module entry (the management socket did not answer): the table
	// says what the bundle lacks, not that the engine runs no IoT Edge.
	noModules := gatewayBundle(t, func(n string) bool { return strings.HasPrefix(n, "inspect/") })
	code, out, _ = runCheck(t, "--support-bundle", noModules)
	if code != cli.ExitNotReady || strings.Contains(out, "no IoT Edge runtime on this Docker engine") ||
		!strings.Contains(out, "management socket did not answer") {
		t.Errorf("a bundle without modules: exit %d\n%s", code, out)
	}

	notZip := filepath.Join(t.TempDir(), "bundle.zip")
	if err := os.WriteFile(notZip, []byte("<html>404</html>"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--support-bundle", notZip}, "check: support bundle " + notZip + ": not a zip archive"},
		{[]string{"--support-bundle", filepath.Join(t.TempDir(), "missing.zip")}, "check: reading support bundle: open "},
		{[]string{"--support-bundle", path, "--snapshot", "x.json"}, "--snapshot and --support-bundle cannot be used together"},
		{[]string{"--support-bundle", path, "--format", "xml"}, "--format must be one of html, json, junit, sarif, table"},
	} {
		code, out, errs := runCheck(t, tc.args...)
		if code != cli.ExitUsage || !strings.Contains(errs, tc.want) || out != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2 and %q", tc.args, code, out, errs, tc.want)
		}
	}
}
