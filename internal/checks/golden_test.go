package checks_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/facts"
	"github.com/edge-readiness/edge-readiness/internal/policy"
	"github.com/edge-readiness/edge-readiness/internal/report"
)

// The -update flag is shared with the package's own tests (catalogdoc_test.go
// defines it there, and package checks is initialized before checks_test);
// it is defined here only when they do not.
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite generated files (docs, golden outputs)")
	}
}

func updating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// TestGolden runs the whole catalog on the good and the bad device and
// compares the findings with testdata/golden. After a deliberate change, run
// `go test ./internal/checks/ -run TestGolden -update` and review the diff:
// every message must make sense to an operator who has not read the code.
func TestGolden(t *testing.T) {
	for _, name := range []string{"good-device", "bad-device"} {
		t.Run(name, func(t *testing.T) {
			fs := checks.Run(checks.All(), deviceInput(t, name), decodePolicy(t, ""))
			got, err := json.MarshalIndent(fs, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", "golden", name+".json")
			if updating() {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("findings differ from %s (run with -update, then review the diff):\n%s", path, firstDiff(want, got))
			}
		})
	}
}

// firstDiff shows the first differing line with a little context.
func firstDiff(want, got []byte) string {
	wl, gl := strings.Split(string(want), "\n"), strings.Split(string(got), "\n")
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return fmt.Sprintf("line %d:\n  want: %s\n  got:  %s", i+1, w, g)
		}
	}
	return "(no line differs)"
}

// TestGoodDevice: on the good device nothing counts against readiness and
// every check passes, but for the constrained-device check, which does not
// apply, and the deployment-manifest checks, which skip on a device.
func TestGoodDevice(t *testing.T) {
	fs := runAll(goodDevice(t), decodePolicy(t, ""))
	for _, f := range fs {
		switch {
		case f.ID == "edgehub-optimize-for-performance",
			// A rate needs two cycles; aziot-edged (1.2 and later) does not report how a device was provisioned.
			f.ID == "store-and-forward-capacity", f.ID == "offline-boot":
			if f.Status != checks.Skip {
				t.Errorf("%s: %s %q, want skip", f.ID, f.Status, f.Message)
			}
		case f.Section == checks.SecManifest: // decided from a manifest, never on a device
			if f.Status != checks.Skip || f.Message != facts.NotOnDevice {
				t.Errorf("%s: %s %q, want skip %q", f.ID, f.Status, f.Message, facts.NotOnDevice)
			}
		case f.Status != checks.Pass:
			t.Errorf("%s %s%s: %s %q, want pass", f.ID, f.Module, f.Subject, f.Status, f.Message)
		}
	}
	for _, c := range checks.All() {
		if len(byID(fs, c.ID)) == 0 {
			t.Errorf("%s: no finding", c.ID)
		}
	}
}

// deviceInput is the input the golden devices are checked with. The good
// device is in its first cycle. The bad device is in its second: five minutes
// earlier edgeAgent had failed fewer syncs with IoT Hub.
func deviceInput(tb testing.TB, name string) checks.Input {
	tb.Helper()
	in := checks.Input{Snap: loadSnapshot(tb, name+".json"), Self: "edgeReadiness"}
	if name == "bad-device" {
		prev := loadSnapshot(tb, name+".json")
		prev.Time = in.Snap.Time.Add(-5 * time.Minute)
		setSample(prev, facts.EdgeAgent, "edgeAgent_unsuccessful_iothub_syncs_total", 9)
		in.Prev, in.History = prev, []*facts.Snapshot{prev}
	}
	return in
}

// TestBadDevice: every check of the catalog finds something on the bad
// device: a failure that counts against readiness, or for an info check a
// failure reported as info. The bad device's edgeHub metrics endpoint refuses
// connections, so the checks that need it report an error, which counts; its
// operator lists the protocols in use, so that unused heads are found.
func TestBadDevice(t *testing.T) {
	pol := decodePolicy(t, `{"checks":{"edgehub-protocol-heads":{"params":{"protocolsInUse":["amqp","http"]}},"offline-boot":{"params":{"intermittentConnectivity":true}}}}`)
	fs := checks.Run(checks.All(), deviceInput(t, "bad-device"), pol)
	// The bad device ships no metrics (observability-module must find that),
	// so metrics-collector-ingestion sees it with a 1.x collector added.
	withCollector := deviceInput(t, "bad-device")
	withCollector.Snap.Containers = append(withCollector.Snap.Containers, facts.Container{Name: "metricsCollector",
		Image:  "mcr.microsoft.com/azureiotedge-metrics-collector:1.1",
		Labels: map[string]string{facts.OwnerLabel: facts.OwnerValue},
		Env:    map[string]string{"UploadTarget": "AzureMonitor", "LogAnalyticsWorkspaceId": "w", "LogAnalyticsSharedKey": "k"},
		State:  facts.State{Status: "running", Running: true}})
	fs = append(fs, byID(checks.Run(checks.All(), withCollector, pol), "metrics-collector-ingestion")...)
	for _, c := range checks.All() {
		if c.Section == checks.SecManifest {
			continue // decided from a manifest: manifest_test.go's bad manifests
		}
		want, counts := checks.Fail, c.Severity != policy.Info
		for _, n := range c.Needs {
			if n == checks.NeedEdgeHubStats {
				want = checks.Error
			}
		}
		found := false
		for _, f := range byID(fs, c.ID) {
			found = found || (f.Status == want && f.Counts() == counts)
		}
		if !found {
			t.Errorf("%s: no %s (counted: %v) on the bad device:\n%s", c.ID, want, counts, dump(byID(fs, c.ID)))
		}
	}
}

// TestGoldenScores: the misconfigured device scores well below the good one,
// and their summaries (status, score, counts, sections) are golden too.
func TestGoldenScores(t *testing.T) {
	scores := map[string]int{}
	for _, name := range []string{"good-device", "bad-device"} {
		fs := checks.Run(checks.All(), deviceInput(t, name), decodePolicy(t, ""))
		sum := report.Summarize(fs)
		scores[name] = sum.Score
		got, err := json.MarshalIndent(sum, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, '\n')
		path := filepath.Join("testdata", "golden", name+".summary.json")
		if updating() {
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update to create it)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("summary differs from %s (run with -update, then review the diff):\n%s", path, firstDiff(want, got))
		}
	}
	t.Logf("scores: good %d, bad %d", scores["good-device"], scores["bad-device"])
	if scores["bad-device"] > scores["good-device"]-30 {
		t.Errorf("the misconfigured device scores %d, not well below the good one (%d)", scores["bad-device"], scores["good-device"])
	}
}
