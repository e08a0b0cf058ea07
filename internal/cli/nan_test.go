package cli_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edge-readiness/edge-readiness/internal/facts"
	"github.com/edge-readiness/edge-readiness/internal/report"
)

// nanAgent serves a real edgeAgent 1.4 page whose summary quantiles are NaN
// (testdata/real, Azure/iotedge#6767) as edgeAgent's metrics endpoint, and a
// page with +Inf and -Inf values as edgeHub's.
func nanAgent(t *testing.T) (agent, hub string) {
	t.Helper()
	page, err := os.ReadFile(filepath.Join("..", "..", "testdata", "real", "issue6767-edgeagent-1.4-metrics-fragment-B.prom"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(page), `quantile="0.5"} NaN`) {
		t.Fatal("the real page no longer carries a NaN quantile")
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/agent", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(page) })
	mux.HandleFunc("/hub", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "# TYPE edgehub_queue_length gauge\nedgehub_queue_length{endpoint=\"iothub\"} +Inf\nedgehub_queue_length{endpoint=\"other\"} -Inf\n")
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL + "/agent", srv.URL + "/hub"
}

func findingLines(rep *report.Report) []string {
	out := make([]string, len(rep.Findings))
	for i, f := range rep.Findings {
		ev, _ := json.Marshal(f.Evidence)
		out[i] = fmt.Sprintf("%s|%s|%s|%s|%s|%s|%s", f.ID, f.Module, f.Subject, f.Severity, f.Status, f.Message, ev)
	}
	return out
}

// TestSaveSnapshotWithNaN: check --save-snapshot on a device whose edgeAgent
// exports NaN (and edgeHub ±Inf) prints the report and writes a snapshot
// that holds those values; check --snapshot on it gives the same findings.
func TestSaveSnapshotWithNaN(t *testing.T) {
	agent, hub := nanAgent(t)
	path := filepath.Join(t.TempDir(), "nan.snapshot.json")
	code, out, errs := runCheck(t, "--no-probes", "--edgeagent-metrics", agent, "--edgehub-metrics", hub,
		"--save-snapshot", path, "--format", "json")
	var live report.Report
	if err := json.Unmarshal([]byte(out), &live); err != nil {
		t.Fatalf("exit %d, no report printed: %v\nstdout: %s\nstderr: %s", code, err, out, errs)
	}
	if code == 2 || strings.Contains(errs, "unsupported value") {
		t.Fatalf("exit %d: %s", code, errs)
	}
	saved, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("no snapshot saved: %v\n%s", err, errs)
	}
	for _, v := range []string{`"value": "NaN"`, `"value": "+Inf"`, `"value": "-Inf"`} {
		if !strings.Contains(string(saved), v) {
			t.Errorf("the saved snapshot does not hold %s", v)
		}
	}
	snap, err := facts.LoadSnapshot(path)
	if err != nil {
		t.Fatal(err)
	}
	nan := 0
	for _, s := range snap.Metrics[facts.EdgeAgent].Find("edgeAgent_deployment_time_seconds", nil) {
		if s.Value != s.Value {
			nan++
		}
	}
	if nan != 4 {
		t.Errorf("%d NaN quantiles read back from the snapshot, want the page's 4", nan)
	}

	rcode, rout, rerrs := runCheck(t, "--snapshot", path, "--format", "json")
	var replay report.Report
	if err := json.Unmarshal([]byte(rout), &replay); err != nil {
		t.Fatalf("replay: exit %d: %v\n%s", rcode, err, rerrs)
	}
	a, b := findingLines(&live), findingLines(&replay)
	if len(a) != len(b) {
		t.Fatalf("%d findings live, %d replayed", len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			t.Errorf("finding %d differs:\n live:   %s\n replay: %s", i, a[i], b[i])
		}
	}
	if code != rcode {
		t.Errorf("exit %d live, %d replayed", code, rcode)
	}
}

// TestSaveSnapshotFailureStillReports: a snapshot that cannot be written
// leaves the report printed, then exits 2 naming why, and leaves no file.
func TestSaveSnapshotFailureStillReports(t *testing.T) {
	agent, hub := nanAgent(t)
	path := filepath.Join(t.TempDir(), "no-such-dir", "x.snapshot.json")
	for _, format := range []string{"json", "table"} {
		code, out, errs := runCheck(t, "--no-probes", "--edgeagent-metrics", agent, "--edgehub-metrics", hub,
			"--save-snapshot", path, "--format", format)
		if code != 2 || strings.TrimSpace(out) == "" || !strings.Contains(errs, "saving the snapshot") || !strings.Contains(errs, "no-such-dir") {
			t.Errorf("%s: exit %d, stdout %d bytes, stderr %q: want the report, then exit 2 naming the file", format, code, len(out), errs)
		}
		if _, err := os.Stat(path); err == nil {
			t.Errorf("%s: a file was left at %s", format, path)
		}
	}
}
